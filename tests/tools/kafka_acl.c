/*
 * kafka_acl — adds or removes one ALLOW ACL through librdkafka's admin API, for the server
 * tests that take the relay's ACLs away one by one: a Java kafka-acls run costs seconds,
 * this costs milliseconds. (The README's kafka-acls commands are run by the tests too.)
 *
 *   kafka_acl BROKERS add|remove PRINCIPAL topic|group NAME literal|prefixed
 *             read|write|create|describe
 *
 * (librdkafka 2.0.2 has no TransactionalId resource type: those take kafka-acls.)
 * BROKERS must let this client (no credentials) manage ACLs: the harness's plaintext
 * listener, whose principal is a super user.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

/* The index of word in names (NULL-terminated), or -1. */
static int lookup(const char *word, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcasecmp(word, names[i]) == 0)
            return i;
    return -1;
}

int main(int argc, char **argv)
{
    static const char *const types[] = {"topic", "group", NULL};
    static const rd_kafka_ResourceType_t type_of[] = {RD_KAFKA_RESOURCE_TOPIC,
                                                      RD_KAFKA_RESOURCE_GROUP};
    static const char *const patterns[] = {"literal", "prefixed", NULL};
    static const rd_kafka_ResourcePatternType_t pattern_of[] = {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_RESOURCE_PATTERN_PREFIXED};
    static const char *const ops[] = {"read", "write", "create", "describe", NULL};
    static const rd_kafka_AclOperation_t op_of[] = {
        RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_OPERATION_CREATE,
        RD_KAFKA_ACL_OPERATION_DESCRIBE};
    char why[512];
    int add, type, pattern, op, rc = 1;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    rd_kafka_AclBinding_t *b;

    if (argc != 8 || (add = lookup(argv[2], (const char *const[]){"remove", "add", NULL})) < 0 ||
        (type = lookup(argv[4], types)) < 0 || (pattern = lookup(argv[6], patterns)) < 0 ||
        (op = lookup(argv[7], ops)) < 0) {
        fprintf(stderr, "usage: kafka_acl BROKERS add|remove PRINCIPAL topic|group NAME "
                        "literal|prefixed read|write|create|describe\n");
        return 2;
    }
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], why, sizeof why) != RD_KAFKA_CONF_OK ||
        (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why)) == NULL) {
        fprintf(stderr, "kafka_acl: %s\n", why);
        return 1;
    }
    q = rd_kafka_queue_new(rk);
    /* A filter is a binding (one type in librdkafka); it matches exactly this one. */
    b = (add ? rd_kafka_AclBinding_new : rd_kafka_AclBindingFilter_new)(
        type_of[type], argv[5], pattern_of[pattern], argv[3], "*", op_of[op],
        RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, why, sizeof why);
    if (b == NULL) {
        fprintf(stderr, "kafka_acl: %s\n", why);
        goto out;
    }
    if (add)
        rd_kafka_CreateAcls(rk, &b, 1, NULL, q);
    else
        rd_kafka_DeleteAcls(rk, &b, 1, NULL, q);
    rd_kafka_AclBinding_destroy(b);
    ev = rd_kafka_queue_poll(q, 30000);
    if (ev == NULL) {
        fprintf(stderr, "kafka_acl: no answer in 30 s\n");
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka_acl: %s\n", rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_error_t *err = NULL;
        size_t n = 0;
        if (add) {
            const rd_kafka_acl_result_t **res =
                rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
            err = n == 1 ? rd_kafka_acl_result_error(res[0]) : NULL;
        } else {
            const rd_kafka_DeleteAcls_result_response_t **res =
                rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &n);
            err = n == 1 ? rd_kafka_DeleteAcls_result_response_error(res[0]) : NULL;
            if (err == NULL && n == 1 &&
                (rd_kafka_DeleteAcls_result_response_matching_acls(res[0], &n), n) != 1) {
                fprintf(stderr, "kafka_acl: %zu ACLs matched, expected 1\n", n);
                goto done;
            }
        }
        if (err != NULL)
            fprintf(stderr, "kafka_acl: %s\n", rd_kafka_error_string(err));
        else
            rc = 0;
    }
done:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
