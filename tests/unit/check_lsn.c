#include "lsn.h"
#include "suites.h"

#include <stdio.h>
#include <string.h>

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

static void position(relay_lsn lsn, uint32_t index, char *buf)
{
    ck_assert_int_eq(snprintf(buf, LSN_POSITION_LEN + 1, LSN_POSITION_FMT,
                              LSN_POSITION_ARGS(lsn, index)),
                     LSN_POSITION_LEN);
}

START_TEST(positions_are_fixed_width_and_round_trip)
{
    char buf[LSN_POSITION_LEN + 1];
    relay_lsn lsn = 0;
    uint32_t index = 0;

    position(0x16B3748, 3, buf);
    ck_assert_str_eq(buf, "00000000016B3748-00000003");
    ck_assert(lsn_position_parse(buf, strlen(buf), &lsn, &index));
    ck_assert_uint_eq(lsn, 0x16B3748);
    ck_assert_uint_eq(index, 3);
    position(UINT64_MAX, UINT32_MAX, buf);
    ck_assert_str_eq(buf, "FFFFFFFFFFFFFFFF-FFFFFFFF");
    ck_assert(lsn_position_parse(buf, strlen(buf), &lsn, &index));
    ck_assert_uint_eq(lsn, UINT64_MAX);
    ck_assert_uint_eq(index, UINT32_MAX);
    /* the form of earlier relays is read too */
    ck_assert(lsn_position_parse("16/B374D848:12", 14, &lsn, &index));
    ck_assert_uint_eq(lsn, ((relay_lsn)0x16 << 32) | 0xB374D848u);
    ck_assert_uint_eq(index, 12);
}
END_TEST

/* Byte order is numeric order, where the "X/X:N" form got 0/9 after 0/10 and :9 after :10. */
START_TEST(positions_sort_as_bytes)
{
    static const struct {
        relay_lsn lsn;
        uint32_t index;
    } ordered[] = {{0x9, 1}, {0x9, 9}, {0x9, 10}, {0x10, 1}, {0xA0, 2}, {0x16B3748, 255},
                   {(relay_lsn)1 << 32, 1}, {(relay_lsn)0xA << 32, 1}};
    char prev[LSN_POSITION_LEN + 1], cur[LSN_POSITION_LEN + 1];

    position(ordered[0].lsn, ordered[0].index, prev);
    for (size_t i = 1; i < sizeof ordered / sizeof ordered[0]; i++) {
        position(ordered[i].lsn, ordered[i].index, cur);
        ck_assert_msg(memcmp(prev, cur, LSN_POSITION_LEN) < 0, "%s !< %s", prev, cur);
        memcpy(prev, cur, sizeof prev);
    }
}
END_TEST

START_TEST(rejects_garbage_positions)
{
    relay_lsn lsn = 7;
    uint32_t index = 7;
    static const char *const bad[] = {"",
                                      "00000000016B3748-0000003",
                                      "00000000016B3748:00000003",
                                      "00000000016B374G-00000003",
                                      "00000000016B3748-0000000 ",
                                      "0/16B3748",
                                      "0/16B3748:",
                                      "0/16B3748:x",
                                      "0/16B3748:99999999999",
                                      "0/16B3748:3 "};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!lsn_position_parse(bad[i], strlen(bad[i]), &lsn, &index), "%s", bad[i]);
    ck_assert_uint_eq(lsn, 7);
    ck_assert_uint_eq(index, 7);
}
END_TEST

Suite *suite_lsn(void)
{
    Suite *s = suite_create("lsn");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, parses_and_prints_round_trip);
    tcase_add_test(tc, rejects_garbage);
    tcase_add_test(tc, positions_are_fixed_width_and_round_trip);
    tcase_add_test(tc, positions_sort_as_bytes);
    tcase_add_test(tc, rejects_garbage_positions);
    suite_add_tcase(s, tc);
    return s;
}
