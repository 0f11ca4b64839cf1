/*
 * latency_consume — a live read_committed consumer for tests/bench/latency.sh: from the end
 * of every partition of TOPIC, it receives COUNT records (or gives up after TIMEOUT_S) and
 * measures each one's delay from its timestamp (the relay stamps a record with the row's
 * created_at) to its arrival here, in milliseconds of the wall clock.
 *
 *   latency_consume BROKERS TOPIC COUNT TIMEOUT_S
 *
 * Writes "ready" to standard error once it is positioned (start the writer after that),
 * and at the end one line to standard output: "received p50_ms p99_ms max_ms". Fetch
 * settings are librdkafka's defaults, as a consumer teams write would have them; only
 * isolation.level is read_committed. Exits 1 when fewer than COUNT records came.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static int64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The partitions of topic, each at its end; NULL when the topic is not there in time. */
static rd_kafka_topic_partition_list_t *partitions_at_end(rd_kafka_t *rk, const char *topic,
                                                          int64_t deadline)
{
    while (wall_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 5000);

        rd_kafka_topic_destroy(t);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
            rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)
                    ->offset = RD_KAFKA_OFFSET_END;
            rd_kafka_metadata_destroy(md);
            return parts;
        }
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        usleep(100000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts;
    int64_t *lat, count, got = 0, deadline;

    if (argc != 5 || (count = atoll(argv[3])) <= 0) {
        fprintf(stderr, "usage: latency_consume BROKERS TOPIC COUNT TIMEOUT_S\n");
        return 2;
    }
    deadline = wall_ms() + atoll(argv[4]) * 1000;
    if ((lat = malloc((size_t)count * sizeof(*lat))) == NULL)
        return 1;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], why, sizeof why) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "latency-bench", why, sizeof why) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", why, sizeof why) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) !=
            RD_KAFKA_CONF_OK ||
        (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why)) == NULL) {
        fprintf(stderr, "latency_consume: %s\n", why);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    if ((parts = partitions_at_end(rk, argv[2], deadline)) == NULL) {
        fprintf(stderr, "latency_consume: topic %s not found\n", argv[2]);
        return 1;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    /* The end offsets are looked up on the first fetch: one poll round gets there. */
    for (int i = 0; i < 10; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m != NULL)
            rd_kafka_message_destroy(m);
    }
    fprintf(stderr, "ready\n");
    while (got < count && wall_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        int64_t now = wall_ms();

        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            lat[got++] = now - rd_kafka_message_timestamp(m, NULL);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got == 0) {
        fprintf(stderr, "latency_consume: nothing received\n");
        return 1;
    }
    qsort(lat, (size_t)got, sizeof(*lat), cmp_i64);
    printf("%lld %lld %lld %lld\n", (long long)got, (long long)lat[got / 2],
           (long long)lat[(got * 99) / 100], (long long)lat[got - 1]);
    free(lat);
    return got == count ? 0 : 1;
}
