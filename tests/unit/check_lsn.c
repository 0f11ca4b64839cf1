#include "lsn.h"
#include "suites.h"

#include <stdio.h>

START_TEST(parses_and_prints_round_trip)
{
    relay_lsn lsn = 0;
    char buf[32];

    ck_assert(lsn_parse("16/B374D848", &lsn));
    ck_assert_uint_eq(lsn, ((relay_lsn)0x16 << 32) | 0xB374D848u);
    snprintf(buf, sizeof buf, LSN_FMT, LSN_ARGS(lsn));
    ck_assert_str_eq(buf, "16/B374D848");
}
END_TEST

START_TEST(rejects_garbage)
{
    relay_lsn lsn = 7;

    ck_assert(!lsn_parse("", &lsn));
    ck_assert(!lsn_parse("16", &lsn));
    ck_assert(!lsn_parse("0/1x", &lsn));
    ck_assert(!lsn_parse(NULL, &lsn));
    ck_assert_uint_eq(lsn, 7);
}
END_TEST

Suite *suite_lsn(void)
{
    Suite *s = suite_create("lsn");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, parses_and_prints_round_trip);
    tcase_add_test(tc, rejects_garbage);
    suite_add_tcase(s, tc);
    return s;
}
