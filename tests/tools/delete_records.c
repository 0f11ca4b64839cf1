/*
 * delete_records — Kafka's DeleteRecords for the server tests, as kafka-delete-records.sh
 * does it: the records of one partition before an offset are gone (the log start moves).
 *
 *   delete_records BROKERS TOPIC PARTITION BEFORE_OFFSET
 *
 * Prints the partition's new low watermark; exits 1 with the broker's error.
 */
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

int main(int argc, char **argv)
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_DeleteRecords_t *del;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_partition_list_t *done;
    int rc = 1;

    if (argc != 5) {
        fprintf(stderr, "usage: delete_records BROKERS TOPIC PARTITION BEFORE_OFFSET\n");
        return 2;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], why, sizeof why) !=
            RD_KAFKA_CONF_OK ||
        (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why)) == NULL) {
        fprintf(stderr, "delete_records: %s\n", why);
        return 1;
    }
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, argv[2], atoi(argv[3]))->offset = atoll(argv[4]);
    del = rd_kafka_DeleteRecords_new(parts);
    q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (ev == NULL) {
        fprintf(stderr, "delete_records: no answer in 30 s\n");
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "delete_records: %s\n", rd_kafka_event_error_string(ev));
    } else {
        done = rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        if (done->cnt == 1 && done->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("%lld\n", (long long)done->elems[0].offset);
            rc = 0;
        } else {
            rd_kafka_resp_err_t err = done->cnt == 1 ? done->elems[0].err : RD_KAFKA_RESP_ERR__FAIL;
            fprintf(stderr, "delete_records: %s\n", rd_kafka_err2str(err));
        }
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteRecords_destroy(del);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
