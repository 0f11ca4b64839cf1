/*
 * txn_hold — a foreign transactional producer for the server tests: opens a Kafka
 * transaction, writes one record into it and never commits. Kafka's console tools cannot
 * hold a transaction open, and only an open transaction moves the last stable offset of
 * a partition below its high watermark, which is what the checkpoint reader must wait out.
 *
 *   txn_hold BROKERS TOPIC KEY TRANSACTION_TIMEOUT_MS
 *
 * Writes to partition 0 (where checkpoints live), prints "holding" once the record is on
 * the broker, then sleeps until killed; the broker aborts the transaction
 * TRANSACTION_TIMEOUT_MS later (plus its abort check interval).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static int fail(const char *what, rd_kafka_error_t *error)
{
    fprintf(stderr, "txn_hold: %s: %s\n", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return 1;
}

int main(int argc, char **argv)
{
    char why[512], txn_id[300];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t err;
    rd_kafka_t *rk;

    if (argc != 5) {
        fprintf(stderr, "usage: txn_hold BROKERS TOPIC KEY TRANSACTION_TIMEOUT_MS\n");
        return 2;
    }
    snprintf(txn_id, sizeof txn_id, "txn-hold-%s", argv[3]);
    const char *const props[] = {"bootstrap.servers", argv[1], "transactional.id", txn_id,
                                 "transaction.timeout.ms", argv[4], NULL};
    for (int i = 0; props[i] != NULL; i += 2)
        if (rd_kafka_conf_set(conf, props[i], props[i + 1], why, sizeof why) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "txn_hold: %s\n", why);
            return 2;
        }
    if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why)) == NULL) {
        fprintf(stderr, "txn_hold: %s\n", why);
        return 1;
    }
    if ((error = rd_kafka_init_transactions(rk, 30000)) != NULL)
        return fail("init_transactions", error);
    if ((error = rd_kafka_begin_transaction(rk)) != NULL)
        return fail("begin_transaction", error);
    err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(0),
                            RD_KAFKA_V_KEY(argv[3], strlen(argv[3])),
                            RD_KAFKA_V_VALUE("{\"held\":true}", 13),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    /* flush: the record must be on the broker, or the transaction holds nothing there. */
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = rd_kafka_flush(rk, 30000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "txn_hold: produce to %s: %s\n", argv[2], rd_kafka_err2str(err));
        return 1;
    }
    printf("holding\n");
    fflush(stdout);
    for (;;)
        pause();
}
