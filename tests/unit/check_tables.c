/* Which tables are the outbox: outbox.table's names and patterns, the publication's tables
 * offered to them, tables joining in the stream, and --table's choice. */
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "tables.h"

static const struct {
    const char *spec;
    const char *why; /* NULL: valid */
} specs[] = {
    {"outbox", NULL},
    {"public.outbox", NULL},
    {"tenant_a.outbox,tenant_b.outbox", NULL},
    {" tenant_a.outbox , tenant_b.outbox ", NULL},
    {"*.outbox", NULL},
    {"*.outbox,legacy.events", NULL},
    {"", "an empty entry"},
    {"a.outbox,", "an empty entry"},
    {"a.b.c", "more than one '.'"},
    {".outbox", "a part empty or longer than 63 bytes"},
    {"a.", "a part empty or longer than 63 bytes"},
    {"a234567890123456789012345678901234567890123456789012345678901234.outbox",
     "a part empty or longer than 63 bytes"},
    {"*", "'*' stands only for the whole schema, as in \"*.outbox\""},
    {"tenant_*.outbox", "'*' stands only for the whole schema, as in \"*.outbox\""},
    {"a.out*", "'*' stands only for the whole schema, as in \"*.outbox\""},
};

START_TEST(spec_validity)
{
    char why[96] = "";
    bool ok = tables_spec_valid(specs[_i].spec, why, sizeof why);

    ck_assert_msg(ok == (specs[_i].why == NULL), "\"%s\": %s", specs[_i].spec, why);
    if (!ok)
        ck_assert_str_eq(why, specs[_i].why);
}
END_TEST

START_TEST(named_tables_are_the_outbox)
{
    tables_set *t = tables_new(" tenant_a.outbox, events ");
    char list[128];

    ck_assert_ptr_nonnull(t);
    ck_assert(!tables_has_pattern(t));
    ck_assert_int_eq(tables_count(t), 2);
    ck_assert_str_eq(tables_list(t, list, sizeof list), "tenant_a.outbox, public.events");
    ck_assert_int_eq(tables_match(t, "tenant_a", "outbox"), TABLES_OUTBOX);
    ck_assert_int_eq(tables_match(t, "public", "events"), TABLES_OUTBOX);
    /* Exactly as the catalog spells them: no pattern, no case folding. */
    ck_assert_int_eq(tables_match(t, "tenant_b", "outbox"), TABLES_OTHER);
    ck_assert_int_eq(tables_match(t, "public", "Events"), TABLES_OTHER);
    ck_assert_int_eq(tables_match(t, "public", "outbox"), TABLES_OTHER);
    tables_free(t);
}
END_TEST

START_TEST(pattern_takes_what_the_publication_offers)
{
    tables_set *t = tables_new("*.outbox,legacy.events");
    char err[512], list[256];

    ck_assert_ptr_nonnull(t);
    ck_assert(tables_has_pattern(t));
    ck_assert_int_eq(tables_count(t), 1);
    /* Nothing offered yet: the pattern found nothing, said with the SQL that fixes it. */
    ck_assert_int_eq(tables_check_patterns(t, "outbox_pub", err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox.table \"*.outbox\" matches no table of publication "
                          "\"outbox_pub\": run ALTER PUBLICATION outbox_pub ADD TABLE "
                          "<schema>.outbox; for each outbox table (or CREATE PUBLICATION if it "
                          "does not exist, see sql/)");
    ck_assert_int_eq(tables_offer(t, "tenant_a", "outbox"), 1);
    ck_assert_int_eq(tables_offer(t, "tenant_a", "orders"), 0);
    ck_assert_int_eq(tables_offer(t, "legacy", "events"), 1);
    ck_assert_int_eq(tables_offer(t, "tenant_b", "outbox"), 1);
    ck_assert_int_eq(tables_offer(t, "tenant_b", "outbox"), 1);
    ck_assert_int_eq(tables_check_patterns(t, "outbox_pub", err, sizeof err), 0);
    ck_assert_str_eq(tables_list(t, list, sizeof list),
                     "legacy.events, tenant_a.outbox, tenant_b.outbox");
    /* A pattern's tables, found or not (the stream may bring one the publication gained),
     * are outbox tables while their columns fit; the named ones always. */
    ck_assert_int_eq(tables_match(t, "tenant_b", "outbox"), TABLES_PATTERN);
    ck_assert(tables_known(t, "tenant_b", "outbox"));
    ck_assert_int_eq(tables_match(t, "tenant_c", "outbox"), TABLES_PATTERN);
    ck_assert(!tables_known(t, "tenant_c", "outbox"));
    ck_assert_int_eq(tables_match(t, "tenant_c", "orders"), TABLES_OTHER);
    ck_assert_int_eq(tables_match(t, "legacy", "events"), TABLES_OUTBOX);
    ck_assert_int_eq(tables_match(t, "public", "events"), TABLES_OTHER);
    /* A reconnect reads the publication again from the named entries. */
    tables_reset(t);
    ck_assert_int_eq(tables_count(t), 1);
    ck_assert(!tables_known(t, "tenant_a", "outbox"));
    ck_assert(tables_known(t, "legacy", "events"));
    tables_free(t);
}
END_TEST

START_TEST(decisions_are_remembered_by_relation_version)
{
    tables_set *t = tables_new("*.outbox");
    uint64_t v1 = (uint64_t)16384 << 32 | 1, v2 = (uint64_t)16384 << 32 | 2;

    ck_assert_int_eq(tables_fits(t, v1), -1);
    for (int i = 0; i < 20; i++) /* grows past its first allocation */
        ck_assert(tables_remember(t, (uint64_t)(20000 + i) << 32 | 1, i % 2 == 0));
    ck_assert(tables_remember(t, v1, false));
    ck_assert_int_eq(tables_fits(t, v1), 0);
    ck_assert_int_eq(tables_fits(t, (uint64_t)20002 << 32 | 1), 1);
    ck_assert_int_eq(tables_fits(t, (uint64_t)20003 << 32 | 1), 0);
    ck_assert_int_eq(tables_fits(t, v2), -1); /* ALTER TABLE: a new version, decided again */
    tables_free(t);
}
END_TEST

START_TEST(choose_the_table_to_read)
{
    tables_set *one = tables_new("app.outbox"), *two = tables_new("a.outbox,b.outbox");
    tables_name n;
    char err[512], buf[160];

    ck_assert_int_eq(tables_choose(one, NULL, &n, err, sizeof err), 0);
    ck_assert_str_eq(tables_format(&n, buf, sizeof buf), "app.outbox");
    ck_assert_int_eq(tables_choose(one, "app.outbox", &n, err, sizeof err), 0);
    ck_assert_int_eq(tables_choose(one, "outbox", &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "--table public.outbox is not an outbox table of this relay "
                          "(app.outbox)");
    ck_assert_int_eq(tables_choose(two, NULL, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "outbox.table names 2 tables (a.outbox, b.outbox): choose one with "
                          "--table SCHEMA.NAME");
    ck_assert_int_eq(tables_choose(two, "b.outbox", &n, err, sizeof err), 0);
    ck_assert_str_eq(n.schema, "b");
    ck_assert_str_eq(n.name, "outbox");
    ck_assert_int_eq(tables_choose(two, "*.outbox", &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "--table \"*.outbox\": a pattern; expected one table, SCHEMA.NAME "
                          "(one of a.outbox, b.outbox)");
    ck_assert_int_eq(tables_choose(two, "a.outbox,b.outbox", &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "--table \"a.outbox,b.outbox\": a list; expected one table, "
                          "SCHEMA.NAME (one of a.outbox, b.outbox)");
    tables_free(one);
    tables_free(two);
}
END_TEST

START_TEST(long_lists_are_cut)
{
    tables_set *t = tables_new("*.outbox");
    char name[16], list[64];

    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "tenant_%02d", i);
        ck_assert_int_eq(tables_offer(t, name, "outbox"), 1);
    }
    ck_assert_int_eq(tables_count(t), 30);
    tables_list(t, list, sizeof list);
    ck_assert_msg(strlen(list) < sizeof list && strstr(list, "...") != NULL, "%s", list);
    ck_assert_msg(strncmp(list, "tenant_00.outbox, tenant_01.outbox", 34) == 0, "%s", list);
    tables_free(t);
}
END_TEST

Suite *suite_tables(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tables");

    tcase_add_loop_test(tc, spec_validity, 0, (int)(sizeof specs / sizeof specs[0]));
    tcase_add_test(tc, named_tables_are_the_outbox);
    tcase_add_test(tc, pattern_takes_what_the_publication_offers);
    tcase_add_test(tc, decisions_are_remembered_by_relation_version);
    tcase_add_test(tc, choose_the_table_to_read);
    tcase_add_test(tc, long_lists_are_cut);
    suite_add_tcase(s, tc);
    return s;
}
