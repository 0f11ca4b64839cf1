/*
 * check_schema.c — relay/schema/ and relay/jsonread.c: the seed's OrderCreated envelope, error
 * pointers and messages, compile errors, a schema directory with cross-file "$ref"s, dialect
 * detection, the instance reader against jansson.
 * Conformance against the official test suite is the separate schema_conformance runner.
 */
#include "jsonread.h"
#include "schema.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The seed article's event envelope, as its draft-07 schema. */
static const char order_created_schema[] =
    "{\"$schema\": \"http://json-schema.org/draft-07/schema#\","
    " \"type\": \"object\","
    " \"required\": [\"event_id\", \"type\", \"payload\"],"
    " \"properties\": {"
    "   \"event_id\": {\"type\": \"string\"},"
    "   \"type\": {\"enum\": [\"OrderCreated\"]},"
    "   \"payload\": {"
    "     \"type\": \"object\","
    "     \"required\": [\"order_id\", \"amount\"],"
    "     \"properties\": {"
    "       \"order_id\": {\"type\": \"integer\"},"
    "       \"amount\": {\"type\": \"number\"}}}}}";

static const char order_created_event[] = "{\"event_id\": \"7f1c\", \"type\": \"OrderCreated\","
                                          " \"payload\": {\"order_id\": 42, \"amount\": 19.99}}";

/* Compiles text into reg, failing the test with the compile error if there is one. */
static schema *compile_text(schema_registry *reg, const char *text)
{
    char err[256] = "";
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    schema *s;

    ck_assert_msg(doc != NULL, "test schema does not parse: %s", jerr.text);
    s = schema_compile(reg, doc, err, sizeof err);
    json_decref(doc);
    ck_assert_msg(s != NULL, "compile failed: %s", err);
    return s;
}

/* The compile error for text (the test fails if it compiles). */
static void compile_error(int draft, const char *text, char *err, size_t size)
{
    schema_registry *reg = schema_registry_new(draft, false);
    json_t *doc = json_loads(text, 0, NULL);
    schema *s;

    ck_assert_ptr_nonnull(doc);
    s = schema_compile(reg, doc, err, size);
    ck_assert_msg(s == NULL, "expected a compile error for %s", text);
    json_decref(doc);
    schema_registry_free(reg);
}

static int validate_text(const schema *s, const char *json, char *err, size_t size)
{
    return schema_validate_text(s, json, strlen(json), err, size);
}

START_TEST(order_created_accepts_valid_event)
{
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT2020, false);
    schema *s = compile_text(reg, order_created_schema);
    char err[256] = "stale";

    ck_assert_int_eq(schema_draft(s), SCHEMA_DRAFT7);
    ck_assert_int_eq(validate_text(s, order_created_event, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    /* 1.0 is an integer in JSON Schema; extra properties are allowed by this schema. */
    ck_assert_int_eq(validate_text(s,
                                   "{\"event_id\": \"a\", \"type\": \"OrderCreated\", \"x\": 1,"
                                   " \"payload\": {\"order_id\": 1.0, \"amount\": 5}}",
                                   err, sizeof err),
                     0);
    schema_free(s);
    schema_registry_free(reg);
}
END_TEST

static const struct {
    const char *event;
    const char *error;
} bad_events[] = {
    {"{\"event_id\": \"7f1c\", \"type\": \"OrderCreated\","
     " \"payload\": {\"order_id\": 42, \"amount\": \"19.99\"}}",
     "/payload/amount: type: expected number, got string"},
    {"{\"event_id\": \"7f1c\", \"type\": \"OrderCreated\", \"payload\": {\"amount\": 1}}",
     "/payload: required: missing property \"order_id\""},
    {"{\"event_id\": \"7f1c\", \"type\": \"OrderCreated\","
     " \"payload\": {\"order_id\": 4.5, \"amount\": 1}}",
     "/payload/order_id: type: expected integer, got number"},
    {"{\"event_id\": \"7f1c\", \"type\": \"OrderShipped\","
     " \"payload\": {\"order_id\": 1, \"amount\": 1}}",
     "/type: enum: \"OrderShipped\" is not one of [\"OrderCreated\"]"},
    {"{\"event_id\": 7, \"type\": \"OrderCreated\", \"payload\": {\"order_id\": 1, \"amount\": 1}}",
     "/event_id: type: expected string, got integer"},
    {"{\"type\": \"OrderCreated\", \"payload\": {\"order_id\": 1, \"amount\": 1}}",
     "(root): required: missing property \"event_id\""},
    {"{\"event_id\": \"7f1c\", \"type\": \"OrderCreated\", \"payload\": null}",
     "/payload: type: expected object, got null"},
    {"[]", "(root): type: expected object, got array"},
    {"{\"event_id\": \"7f1c\", \"type\": ", NULL}, /* not JSON: checked separately below */
};

START_TEST(order_created_rejects_bad_events)
{
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT7, false);
    schema *s = compile_text(reg, order_created_schema);
    char err[256];

    for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
        ck_assert_int_eq(validate_text(s, bad_events[i].event, err, sizeof err), 1);
        if (bad_events[i].error != NULL)
            ck_assert_str_eq(err, bad_events[i].error);
        else
            ck_assert_msg(strncmp(err, "(json):1:", 9) == 0, "parse error line: %s", err);
    }
    /* A short buffer truncates but stays a terminated string; NULL is allowed. */
    ck_assert_int_eq(validate_text(s, bad_events[0].event, err, 10), 1);
    ck_assert_str_eq(err, "/payload/");
    ck_assert_int_eq(validate_text(s, bad_events[0].event, NULL, 0), 1);
    schema_free(s);
    schema_registry_free(reg);
}
END_TEST

START_TEST(error_pointers_in_nested_values)
{
    static const struct {
        const char *instance;
        const char *error;
    } cases[] = {
        {"{\"lines\": [{\"sku\": \"ABC-1\"}, {\"sku\": \"abc\"}]}",
         "/lines/1/sku: pattern: does not match /^[A-Z]{3}-\\d+$/"},
        {"{\"lines\": [{\"sku\": \"ABC-1\", \"tags\": [\"ok\", \"toolong\"]}]}",
         "/lines/0/tags/1: maxLength: 7 characters, more than 3"},
        {"{\"lines\": [{\"sku\": \"ABC-1\", \"qty\": 0}]}",
         "/lines/0/qty: exclusiveMinimum: 0 is not greater than 0"},
        {"{\"lines\": [{\"sku\": \"ABC-1\", \"extra\": true}]}",
         "/lines/0/extra: additionalProperties: property not allowed"},
        {"{\"a/b\": {\"c~d\": \"x\"}}", "/a~1b/c~0d: type: expected integer, got string"},
        {"{\"lines\": [{\"sku\": \"ABC-1\"}, {\"sku\": \"ABC-1\"}]}",
         "/lines: uniqueItems: items 0 and 1 are equal"},
        {"{\"lines\": []}", "/lines: minItems: 0 items, fewer than 1"},
        {"{\"price\": 0.105}", "/price: multipleOf: 0.105 is not a multiple of 0.01"},
        {"{\"kind\": \"b\"}", "(root): oneOf: matches none of the 2 subschemas"},
        {"{\"kind\": \"a\", \"ref\": 5}", "/ref: type: expected string, got integer"},
    };
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT7, false);
    schema *s = compile_text(
        reg,
        "{\"type\": \"object\","
        " \"properties\": {"
        "  \"lines\": {\"type\": \"array\", \"minItems\": 1, \"uniqueItems\": true,"
        "   \"items\": {\"type\": \"object\", \"additionalProperties\": false,"
        "    \"properties\": {"
        "     \"sku\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}-\\\\d+$\"},"
        "     \"qty\": {\"type\": \"integer\", \"exclusiveMinimum\": 0},"
        "     \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", "
        "\"maxLength\": 3}}}}},"
        "  \"a/b\": {\"properties\": {\"c~d\": {\"type\": \"integer\"}}},"
        "  \"price\": {\"multipleOf\": 0.01},"
        "  \"kind\": {}},"
        " \"oneOf\": [{\"not\": {\"required\": [\"kind\"]}},"
        "            {\"properties\": {\"kind\": {\"const\": \"a\"}}, \"required\": [\"kind\"]}],"
        " \"dependencies\": {\"kind\": {\"properties\": {\"ref\": {\"type\": \"string\"}}}}}");
    char err[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(validate_text(s, cases[i].instance, err, sizeof err) == 1, "valid: %s",
                      cases[i].instance);
        ck_assert_str_eq(err, cases[i].error);
    }
    ck_assert_int_eq(
        validate_text(s, "{\"price\": 19.99, \"lines\": [{\"sku\": \"XYZ-9\"}]}", err, sizeof err),
        0);
    /* maxLength counts code points: "ééé" is 3 characters in 6 bytes, "éééé" 4. */
    ck_assert_int_eq(validate_text(s,
                                   "{\"lines\": [{\"sku\": \"ABC-1\","
                                   " \"tags\": [\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"]}]}",
                                   err, sizeof err),
                     1);
    ck_assert_str_eq(err, "/lines/0/tags/0: maxLength: 4 characters, more than 3");
    ck_assert_int_eq(
        validate_text(
            s, "{\"lines\": [{\"sku\": \"ABC-1\", \"tags\": [\"\xc3\xa9\xc3\xa9\xc3\xa9\"]}]}", err,
            sizeof err),
        0);
    schema_free(s);
    schema_registry_free(reg);
}
END_TEST

static const struct {
    int draft;
    const char *schema;
    const char *error; /* a prefix of the message */
} broken_schemas[] = {
    {SCHEMA_DRAFT7, "{\"properties\": {\"sku\": {\"pattern\": \"(\"}}}",
     "/properties/sku/pattern: invalid regex \"(\": missing closing parenthesis at offset 1"},
    {SCHEMA_DRAFT7, "{\"patternProperties\": {\"^\\\\a\": {}}}",
     "/patternProperties/^\\a: invalid regex \"^\\a\": \\a is not an ECMA-262 escape"},
    {SCHEMA_DRAFT7, "{\"properties\": {\"x\": {\"$ref\": \"#/definitions/nope\"}}}",
     "/properties/x/$ref: cannot resolve \"#/definitions/nope\": no \"/definitions/nope\" in "
     "urn:relay:schema:1"},
    {SCHEMA_DRAFT7, "{\"$ref\": \"other.json\"}",
     "/$ref: cannot resolve \"other.json\": no schema \"urn:other.json\" in the registry"},
    {SCHEMA_DRAFT2020, "{\"$ref\": \"#nowhere\"}",
     "/$ref: cannot resolve \"#nowhere\": no anchor \"nowhere\""},
    {SCHEMA_DRAFT7, "{\"type\": 5}", "/type: must be a type name or an array of them, got integer"},
    {SCHEMA_DRAFT7, "{\"type\": \"strin\"}", "/type: unknown type \"strin\""},
    {SCHEMA_DRAFT7, "{\"minLength\": -1}", "/minLength: must be a non-negative integer"},
    {SCHEMA_DRAFT7, "{\"maxItems\": \"3\"}",
     "/maxItems: must be a non-negative integer, got string"},
    {SCHEMA_DRAFT7, "{\"required\": \"id\"}", "/required: must be an array of property names"},
    {SCHEMA_DRAFT7, "{\"exclusiveMinimum\": true}",
     "/exclusiveMinimum: must be a number, got boolean (the boolean form is draft-04)"},
    {SCHEMA_DRAFT7, "{\"multipleOf\": 0}", "/multipleOf: must be greater than 0"},
    {SCHEMA_DRAFT7, "{\"items\": [{\"type\": \"string\"}, 3]}",
     "/items/1: a schema must be an object or a boolean, got integer"},
    {SCHEMA_DRAFT7, "{\"allOf\": []}", "/allOf: must be a non-empty array of schemas"},
    {SCHEMA_DRAFT7, "{\"definitions\": {\"unused\": {\"enum\": {}}}}",
     "/definitions/unused/enum: must be an array, got object"},
    {SCHEMA_DRAFT2020, "{\"items\": [{}]}", "/items: must be a schema in 2020-12"},
    {SCHEMA_DRAFT7, "[1]", "(root): a schema must be an object or a boolean, got array"},
};

START_TEST(broken_schemas_name_pointer_and_reason)
{
    for (size_t i = 0; i < sizeof(broken_schemas) / sizeof(broken_schemas[0]); i++) {
        char err[256] = "";

        compile_error(broken_schemas[i].draft, broken_schemas[i].schema, err, sizeof err);
        ck_assert_msg(strncmp(err, broken_schemas[i].error, strlen(broken_schemas[i].error)) == 0,
                      "schema %s\n  got: %s\n want: %s", broken_schemas[i].schema, err,
                      broken_schemas[i].error);
    }
}
END_TEST

START_TEST(failed_compile_leaves_registry_usable)
{
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT7, false);
    json_t *shared = json_loads("{\"type\": \"integer\"}", 0, NULL);
    json_t *bad = json_pack("{s:{s:O,s:{s:s}}}", "properties", "a", shared, "b", "pattern", "(");
    json_t *good = json_pack("{s:{s:O}}", "properties", "a", shared);
    char err[256];
    schema *s;

    /* "a" is compiled, then "b" fails: the half-built graph must not be reused. */
    ck_assert_ptr_null(schema_compile(reg, bad, err, sizeof err));
    s = schema_compile(reg, good, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(validate_text(s, "{\"a\": \"x\"}", err, sizeof err), 1);
    ck_assert_str_eq(err, "/a: type: expected integer, got string");
    schema_free(s);
    json_decref(shared);
    json_decref(bad);
    json_decref(good);
    schema_registry_free(reg);
}
END_TEST

START_TEST(recursion_compiles_once_and_cycles_are_reported)
{
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT7, false);
    schema *tree =
        compile_text(reg, "{\"type\": \"object\", \"required\": [\"v\"],"
                          " \"properties\": {\"v\": {\"type\": \"integer\"},"
                          "  \"kids\": {\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}}");
    schema *loop = compile_text(reg, "{\"definitions\": {\"a\": {\"$ref\": \"#/definitions/b\"},"
                                     " \"b\": {\"$ref\": \"#/definitions/a\"}},"
                                     " \"$ref\": \"#/definitions/a\"}");
    char err[256];

    ck_assert_int_eq(validate_text(tree,
                                   "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": [{\"v\": 3}]}]}",
                                   err, sizeof err),
                     0);
    ck_assert_int_eq(
        validate_text(tree, "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": [{}]}]}", err, sizeof err),
        1);
    ck_assert_str_eq(err, "/kids/0/kids/0: required: missing property \"v\"");
    ck_assert_int_eq(validate_text(loop, "1", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "reference cycle") != NULL, "%s", err);
    schema_free(tree);
    schema_free(loop);
    schema_registry_free(reg);
}
END_TEST

START_TEST(draft_detection)
{
    schema_registry *r7 = schema_registry_new(SCHEMA_DRAFT7, false);
    schema_registry *r20 = schema_registry_new(SCHEMA_DRAFT2020, false);
    /* The same text: draft-07 ignores siblings of "$ref", 2020-12 applies them. */
    static const char body[] = "\"$ref\": \"#/definitions/int\", \"type\": \"string\","
                               " \"definitions\": {\"int\": {\"type\": \"integer\"}}}";
    char text[512], err[256];
    schema *a, *b, *c, *d, *e;

    snprintf(text, sizeof text, "{%s", body);
    a = compile_text(r7, text);  /* no "$schema": registry default, draft-07 */
    b = compile_text(r20, text); /* no "$schema": registry default, 2020-12 */
    snprintf(text, sizeof text,
             "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", %s", body);
    c = compile_text(r7, text);
    snprintf(text, sizeof text, "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", %s",
             body);
    d = compile_text(r20, text);
    e = compile_text(r7, "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                         " \"prefixItems\": [{\"type\": \"integer\"}], \"items\": false}");

    ck_assert_int_eq(schema_draft(a), SCHEMA_DRAFT7);
    ck_assert_int_eq(schema_draft(b), SCHEMA_DRAFT2020);
    ck_assert_int_eq(schema_draft(c), SCHEMA_DRAFT2020);
    ck_assert_int_eq(schema_draft(d), SCHEMA_DRAFT7);
    ck_assert_int_eq(validate_text(a, "5", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(d, "5", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(b, "5", err, sizeof err), 1);
    ck_assert_str_eq(err, "(root): type: expected string, got integer");
    ck_assert_int_eq(validate_text(c, "5", err, sizeof err), 1);
    ck_assert_int_eq(validate_text(e, "[1]", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(e, "[1, 2]", err, sizeof err), 1);
    ck_assert_str_eq(err, "/1: items: no item allowed past the first 1");
    /* The meta-schemas are built in: a schema can be checked against them offline. */
    schema_free(a);
    a = compile_text(r7, "{\"$ref\": \"http://json-schema.org/draft-07/schema#\"}");
    ck_assert_int_eq(validate_text(a, "{\"type\": \"object\"}", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(a, "{\"minLength\": -1}", err, sizeof err), 1);
    schema_free(b);
    b = compile_text(r20, "{\"$ref\": \"https://json-schema.org/draft/2020-12/schema\"}");
    ck_assert_int_eq(validate_text(b, "{\"prefixItems\": [{\"type\": 1}]}", err, sizeof err), 1);
    ck_assert_int_eq(
        validate_text(b, "{\"prefixItems\": [{\"type\": \"string\"}]}", err, sizeof err), 0);
    schema_free(a);
    schema_free(b);
    schema_free(c);
    schema_free(d);
    schema_free(e);
    schema_registry_free(r7);
    schema_registry_free(r20);
}
END_TEST

START_TEST(format_asserts_only_when_asked)
{
    static const char text[] = "{\"properties\": {\"at\": {\"format\": \"date-time\"},"
                               " \"id\": {\"format\": \"uuid\"}, \"to\": {\"format\": \"email\"}}}";
    schema_registry *ann = schema_registry_new(SCHEMA_DRAFT7, false);
    schema_registry *ass = schema_registry_new(SCHEMA_DRAFT7, true);
    schema *a = compile_text(ann, text), *b = compile_text(ass, text);
    char err[256];

    ck_assert_int_eq(validate_text(a, "{\"at\": \"yesterday\"}", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(b, "{\"at\": \"yesterday\"}", err, sizeof err), 1);
    ck_assert_str_eq(err, "/at: format: not a valid date-time");
    ck_assert_int_eq(validate_text(b,
                                   "{\"at\": \"2024-02-29T23:59:60Z\", \"to\": \"a@b.example\","
                                   " \"id\": \"0b8ffc5e-6a6f-4a84-9d8e-3f3a3c7d2d10\"}",
                                   err, sizeof err),
                     0);
    ck_assert_int_eq(validate_text(b, "{\"at\": \"2023-02-29T10:00:00Z\"}", err, sizeof err), 1);
    ck_assert_int_eq(
        validate_text(b, "{\"id\": \"0b8ffc5e6a6f4a849d8e3f3a3c7d2d10\"}", err, sizeof err), 1);
    ck_assert_str_eq(err, "/id: format: not a valid uuid");
    ck_assert_int_eq(validate_text(b, "{\"to\": \"a..b@example.com\"}", err, sizeof err), 1);
    schema_free(a);
    schema_free(b);
    schema_registry_free(ann);
    schema_registry_free(ass);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(registry_loads_directory_with_cross_file_refs)
{
    char dir[] = "/tmp/check_schema_XXXXXX", err[512];
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT7, false);
    const schema *v1, *v2, *latest;
    int version;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "Common.json",
               "{\"definitions\": {\"Money\": {\"type\": \"number\", \"minimum\": 0},"
               " \"Id\": {\"type\": \"string\", \"minLength\": 1}}}");
    write_file(dir, "OrderCreated.json",
               "{\"type\": \"object\", \"required\": [\"event_id\", \"payload\"],"
               " \"properties\": {\"event_id\": {\"$ref\": \"Common.json#/definitions/Id\"},"
               "  \"payload\": {\"properties\": {\"amount\": "
               "{\"$ref\": \"Common.json#/definitions/Money\"}}}}}");
    write_file(dir, "OrderCreated.v2.json",
               "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
               " \"$ref\": \"OrderCreated.json\", \"required\": [\"currency\"],"
               " \"properties\": {\"currency\": {\"$ref\": \"#/$defs/Currency\"}},"
               " \"$defs\": {\"Currency\": {\"enum\": [\"EUR\", \"USD\"]}}}");
    write_file(dir, "notes.txt", "not a schema");
    ck_assert_int_eq(schema_registry_load_dir(reg, dir, err, sizeof err), 3);

    /* Version 0: the unversioned file; N: exactly "Type.vN". */
    v1 = schema_registry_lookup(reg, "OrderCreated", 0, &version);
    ck_assert_ptr_nonnull(v1);
    ck_assert_int_eq(version, 0);
    v2 = schema_registry_lookup(reg, "OrderCreated", 2, &version);
    ck_assert_ptr_nonnull(v2);
    ck_assert_int_eq(version, 2);
    ck_assert_ptr_ne(v1, v2);
    ck_assert_ptr_null(schema_registry_lookup(reg, "OrderCreated", 3, NULL));
    ck_assert_ptr_nonnull(schema_registry_lookup(reg, "Common", 0, NULL));
    ck_assert_ptr_null(schema_registry_lookup(reg, "OrderShipped", 0, NULL));
    ck_assert_int_eq(schema_draft(v1), SCHEMA_DRAFT7);
    ck_assert_int_eq(schema_draft(v2), SCHEMA_DRAFT2020);

    ck_assert_int_eq(
        validate_text(v1, "{\"event_id\": \"e1\", \"payload\": {\"amount\": -1}}", err, sizeof err),
        1);
    ck_assert_str_eq(err, "/payload/amount: minimum: -1 is less than 0");
    ck_assert_int_eq(validate_text(v1, "{\"event_id\": \"\", \"payload\": {}}", err, sizeof err),
                     1);
    ck_assert_str_eq(err, "/event_id: minLength: 0 characters, fewer than 1");
    ck_assert_int_eq(validate_text(v2, "{\"event_id\": \"e1\", \"payload\": {}}", err, sizeof err),
                     1);
    ck_assert_str_eq(err, "(root): required: missing property \"currency\"");
    ck_assert_int_eq(validate_text(v2,
                                   "{\"event_id\": \"e1\", \"payload\": {\"amount\": 3},"
                                   " \"currency\": \"EUR\"}",
                                   err, sizeof err),
                     0);
    schema_registry_free(reg);

    /* Only versioned files: the bare type name is the highest version. */
    reg = schema_registry_new(SCHEMA_DRAFT7, false);
    write_file(dir, "Shipped.v1.json", "{\"const\": 1}");
    write_file(dir, "Shipped.v3.json", "{\"const\": 3}");
    ck_assert_int_eq(schema_registry_load_dir(reg, dir, err, sizeof err), 5);
    latest = schema_registry_lookup(reg, "Shipped", 0, &version);
    ck_assert_ptr_nonnull(latest);
    ck_assert_int_eq(version, 3);
    ck_assert_ptr_eq(latest, schema_registry_lookup(reg, "Shipped", 3, NULL));
    ck_assert_int_eq(validate_text(latest, "3", err, sizeof err), 0);
    schema_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(registry_reports_broken_files)
{
    char dir[] = "/tmp/check_schema_XXXXXX", err[512], want[600];
    schema_registry *reg;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_file(dir, "Bad.json", "{\"type\": \"object\",\n \"properties\": }\n");
    reg = schema_registry_new(SCHEMA_DRAFT7, false);
    ck_assert_int_eq(schema_registry_load_dir(reg, dir, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s/Bad.json:2:16: ", dir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    schema_registry_free(reg);

    write_file(dir, "Bad.json", "{\"properties\": {\"a\": {\"$ref\": \"Missing.json#/x\"}}}");
    reg = schema_registry_new(SCHEMA_DRAFT7, false);
    ck_assert_int_eq(schema_registry_load_dir(reg, dir, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s/Bad.json: /properties/a/$ref: cannot resolve \"Missing.json#/x\": no schema "
             "\"file://",
             dir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    schema_registry_free(reg);

    write_file(dir, "Bad.json", "{\"type\": \"object\", \"type\": \"array\"}");
    reg = schema_registry_new(SCHEMA_DRAFT7, false);
    ck_assert_int_eq(schema_registry_load_dir(reg, dir, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "duplicate object key") != NULL, "%s", err);
    schema_registry_free(reg);

    reg = schema_registry_new(SCHEMA_DRAFT7, false);
    ck_assert_int_eq(schema_registry_load_dir(reg, "/nonexistent/schemas", err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/schemas: cannot open schema directory: "
                          "No such file or directory");
    schema_registry_free(reg);
    remove_dir(dir);
}
END_TEST

START_TEST(ids_anchors_and_unevaluated)
{
    schema_registry *reg = schema_registry_new(SCHEMA_DRAFT2020, false);
    json_t *money = json_loads("{\"$id\": \"https://example.com/money.json\", \"$anchor\": \"m\","
                               " \"type\": \"object\", \"required\": [\"units\"],"
                               " \"properties\": {\"units\": {\"type\": \"integer\"},"
                               "  \"currency\": {\"type\": \"string\"}}}",
                               0, NULL);
    schema *s;
    char err[256];

    ck_assert_int_eq(schema_registry_add(reg, NULL, money, err, sizeof err), 0);
    ck_assert_int_eq(schema_registry_add(reg, NULL, money, err, sizeof err), 0); /* same doc */
    s = compile_text(reg, "{\"$id\": \"https://example.com/order.json\","
                          " \"properties\": {\"total\": {\"$ref\": \"money.json#m\","
                          "   \"unevaluatedProperties\": false}}}");
    ck_assert_int_eq(
        validate_text(s, "{\"total\": {\"units\": 5, \"currency\": \"EUR\"}}", err, sizeof err), 0);
    ck_assert_int_eq(validate_text(s, "{\"total\": {\"units\": 5, \"cents\": 3}}", err, sizeof err),
                     1);
    ck_assert_str_eq(err, "/total/cents: unevaluatedProperties: property not allowed");
    schema_free(s);
    s = schema_compile_uri(reg, "https://example.com/money.json#/properties/units", err,
                           sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(validate_text(s, "\"5\"", err, sizeof err), 1);
    schema_free(s);
    json_decref(money);
    schema_registry_free(reg);
}
END_TEST

/* The fast instance reader gives what jansson's gives, on plain text and on everything it
 * hands over (escapes, odd numbers, bad UTF-8, errors). */
START_TEST(instance_reader_matches_jansson)
{
    static const char *const texts[] = {
        "{\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"e\"}}",
        " [ -0 , 0.5 , -1.25e-3 , 1E+2 , 999999999999999999 , 1000000000000000000 ] ",
        "123456789012345678901234567890", "-9223372036854775808", "1e400", "2.5e-320",
        "\"na\xc3\xafve \xe6\x97\xa5\"", "\"\\u00e9\\n\"", "\"\xed\xa0\x80\"",
        "\"\xc0\xaf\"", "{\"dup\": 1, \"x\": 2, \"dup\": 3}", "01", "1.", "-", "[1,]", "{\"a\"}",
        "tru", "nulls", "\"tab\there\"", "", "  ",
        /* One string, deeper than the fast path goes (parenthesised for clang's
         * -Wstring-concatenation). */
        ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]"),
        "{} x", "\"\\u0000\"",
    };

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_error_t e1, e2;
        size_t len = strlen(texts[i]);
        json_t *fast = jsonread_parse(texts[i], len, &e1);
        json_t *slow = json_loadb(texts[i], len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e2);
        char *a, *b;

        if (slow == NULL && json_error_code(&e2) == json_error_numeric_overflow)
            slow = json_loadb(texts[i], len,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e2);
        ck_assert_msg((fast == NULL) == (slow == NULL), "case %zu: %s", i, texts[i]);
        if (fast == NULL) {
            ck_assert_str_eq(e1.text, e2.text);
            continue;
        }
        a = json_dumps(fast, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        b = json_dumps(slow, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        ck_assert_msg(strcmp(a, b) == 0, "case %zu: %s vs %s", i, a, b);
        free(a);
        free(b);
        json_decref(fast);
        json_decref(slow);
    }
}
END_TEST

/* A reader reuses the previous value when the next text has its shape; whatever the sequence,
 * each result is what a fresh read gives. */
START_TEST(reader_reuses_values_of_the_same_shape)
{
    static const char *const texts[] = {
        "{\"event_id\": \"1\", \"payload\": {\"order_id\": 1, \"amount\": 9.5, \"ok\": true}}",
        "{\"event_id\": \"22\", \"payload\": {\"order_id\": 2, \"amount\": 10.25, \"ok\": true}}",
        "{\"event_id\": \"22\", \"payload\": {\"order_id\": 2.5, \"amount\": 10.25, \"ok\": true}}",
        "{\"event_id\": \"3\", \"payload\": {\"order_id\": 3, \"amount\": 1, \"ok\": false}}",
        "{\"event_id\": \"3\", \"payload\": {\"amount\": 1, \"order_id\": 3, \"ok\": false}}",
        "{\"event_id\": \"3\", \"payload\": {\"amount\": 1, \"order_id\": 3}}",
        "{\"event_id\": \"3\", \"payload\": {\"amount\": 1, \"order_id\": 3, \"x\": 0}}",
        "{\"event_id\": \"3\", \"payload\": {\"amount\": 1, \"order_id\": 3, \"x\": 0}, \"e\": 1}",
        "[1, [2, 3]]", "[4, [5, 6]]", "[4, [5]]", "[4, [5, 6, 7]]", "{\"a\": 1, \"a\": 2}",
        "{\"a\": 1}", "{\"a\": \"\\n\"}", "{\"a\": 1", "{\"a\": 12345678901234567890123}",
        "{\"a\": 7}", "\"s\"", "\"t\"", "null", "true",
    };
    jsonread_reader *rd = jsonread_new();

    ck_assert_ptr_nonnull(rd);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_error_t e1, e2;
        size_t len = strlen(texts[i]);
        json_t *got = jsonread_next(rd, texts[i], len, &e1);
        json_t *want = jsonread_parse(texts[i], len, &e2);
        char *a, *b;

        ck_assert_msg((got == NULL) == (want == NULL), "case %zu: %s", i, texts[i]);
        if (got == NULL)
            continue;
        a = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        b = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        ck_assert_msg(strcmp(a, b) == 0, "case %zu: %s vs %s", i, a, b);
        free(a);
        free(b);
        json_decref(want);
    }
    jsonread_free(rd);
}
END_TEST

Suite *suite_schema(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("validate");
    TCase *tc_compile = tcase_create("compile");
    TCase *tc_registry = tcase_create("registry");

    tcase_add_test(tc, order_created_accepts_valid_event);
    tcase_add_test(tc, order_created_rejects_bad_events);
    tcase_add_test(tc, error_pointers_in_nested_values);
    tcase_add_test(tc, format_asserts_only_when_asked);
    tcase_add_test(tc, recursion_compiles_once_and_cycles_are_reported);
    tcase_add_test(tc, instance_reader_matches_jansson);
    tcase_add_test(tc, reader_reuses_values_of_the_same_shape);
    tcase_add_test(tc_compile, broken_schemas_name_pointer_and_reason);
    tcase_add_test(tc_compile, failed_compile_leaves_registry_usable);
    tcase_add_test(tc_compile, draft_detection);
    tcase_add_test(tc_registry, registry_loads_directory_with_cross_file_refs);
    tcase_add_test(tc_registry, registry_reports_broken_files);
    tcase_add_test(tc_registry, ids_anchors_and_unevaluated);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tc_compile);
    suite_add_tcase(s, tc_registry);
    return s;
}
