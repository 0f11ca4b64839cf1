#include "metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "policy.h"

_Static_assert(METRICS_REASONS == PUBLISH_REASONS, "one dead-letter count per policy reason");

#define PREFIX "outbox_relay_"

/* Upper bounds, seconds. End to end spans a quick relay (ms) to one that was away (minutes);
 * a commit is one broker round trip, slower only when the broker struggles. */
static const double end_to_end_le[METRICS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,  1,     2.5,  5,
                                                      10,    30,   60,    300,  1800};
static const double commit_le[METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,  0.1,    0.25,  0.5,  1,
                                                  2.5,   5,      10,    30,   60};

static const char *const state_names[] = {
    [METRICS_STARTING] = "starting",
    [METRICS_STANDBY] = "standby",
    [METRICS_STREAMING] = "streaming",
    [METRICS_STOPPING] = "stopping",
};
#define NSTATES (sizeof state_names / sizeof state_names[0])

int metrics_init(relay_metrics *m, const char *command)
{
    memset(m, 0, sizeof *m);
    if (pthread_mutex_init(&m->lock, NULL) != 0)
        return -1;
    atomic_init(&m->state, METRICS_STARTING);
    atomic_init(&m->heartbeat_ms, clock_mono_ms());
    atomic_init(&m->oldest_unconfirmed, 0);
    m->command = command;
    m->start_wall_s = clock_wall_us() / 1000000;
    return 0;
}

void metrics_destroy(relay_metrics *m)
{
    pthread_mutex_destroy(&m->lock);
    free(m->created_ms);
    m->created_ms = NULL;
}

const char *metrics_state_name(metrics_state st)
{
    return (size_t)st < NSTATES ? state_names[st] : "unknown";
}

void metrics_set_state(relay_metrics *m, metrics_state st)
{
    atomic_store(&m->state, (int)st);
}

metrics_state metrics_get_state(relay_metrics *m)
{
    return (metrics_state)atomic_load(&m->state);
}

void metrics_heartbeat(relay_metrics *m, int64_t now_mono_ms)
{
    atomic_store_explicit(&m->heartbeat_ms, now_mono_ms, memory_order_relaxed);
}

bool metrics_alive(relay_metrics *m, int64_t now_mono_ms, int64_t window_ms)
{
    return now_mono_ms - atomic_load(&m->heartbeat_ms) <= window_ms;
}

void metrics_record_pending(relay_metrics *m, int64_t created_ms)
{
    if (m->ncreated == m->cap) {
        /* Bounded by batch.max_events: a transaction holds no more records. When memory
         * runs out the record is simply not observed. */
        size_t cap = m->cap ? m->cap * 2 : 1024;
        int64_t *p = realloc(m->created_ms, cap * sizeof *p);
        if (p == NULL)
            return;
        m->created_ms = p;
        m->cap = cap;
    }
    m->created_ms[m->ncreated++] = created_ms;
}

static void observe(metrics_histogram *h, const double *le, double v)
{
    int i = 0;

    while (i < METRICS_BUCKETS && v > le[i])
        i++;
    if (i < METRICS_BUCKETS)
        h->buckets[i]++;
    h->count++;
    h->sum += v;
}

void metrics_txn_committed(relay_metrics *m, const publish_counts *c, double commit_s,
                           int64_t now_wall_ms)
{
    bool checkpoint_only = c->events == m->base.events && c->dead_letters == m->base.dead_letters;
    metrics_values *v = &m->shared;
    metrics_histogram e2e = {0};

    /* Observed before taking the lock: a scrape never waits for a large transaction. */
    for (size_t i = 0; i < m->ncreated; i++) {
        double age = (double)(now_wall_ms - m->created_ms[i]) / 1000.0;
        observe(&e2e, end_to_end_le, age > 0 ? age : 0);
    }
    pthread_mutex_lock(&m->lock);
    v->events += c->events - m->base.events;
    for (int r = 0; r < METRICS_REASONS; r++)
        v->dead_letters[r] += c->dead_letter_reasons[r] - m->base.dead_letter_reasons[r];
    v->txns_committed++;
    v->txns_aborted += c->aborted_txns - m->base.aborted_txns;
    if (checkpoint_only)
        v->checkpoint_only++;
    observe(&v->commit, commit_le, commit_s);
    for (int i = 0; i < METRICS_BUCKETS; i++)
        v->end_to_end.buckets[i] += e2e.buckets[i];
    v->end_to_end.count += e2e.count;
    v->end_to_end.sum += e2e.sum;
    pthread_mutex_unlock(&m->lock);
    m->base = *c;
    m->ncreated = 0;
}

void metrics_txn_aborted(relay_metrics *m, const publish_counts *c)
{
    pthread_mutex_lock(&m->lock);
    m->shared.txns_aborted += c->aborted_txns - m->base.aborted_txns;
    pthread_mutex_unlock(&m->lock);
    m->base = *c;
    m->ncreated = 0;
}

void metrics_lag_since(relay_metrics *m, int64_t since_mono_ms)
{
    int64_t old = atomic_load(&m->oldest_unconfirmed);

    if (old == 0 || since_mono_ms < old)
        atomic_store(&m->oldest_unconfirmed, since_mono_ms);
}

void metrics_lag_clear(relay_metrics *m)
{
    atomic_store(&m->oldest_unconfirmed, 0);
}

void metrics_slot_lag(relay_metrics *m, uint64_t server_end, uint64_t confirmed)
{
    pthread_mutex_lock(&m->lock);
    m->shared.have_slot_lag = true;
    m->shared.slot_lag_bytes = server_end > confirmed ? server_end - confirmed : 0;
    pthread_mutex_unlock(&m->lock);
}

void metrics_pg_reconnect(relay_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->shared.pg_reconnects++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_messages_ignored(relay_metrics *m, uint64_t other_prefix,
                              uint64_t non_transactional)
{
    pthread_mutex_lock(&m->lock);
    m->shared.messages_other_prefix += other_prefix;
    m->shared.messages_non_transactional += non_transactional;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_slot(relay_metrics *m, const metrics_slot *s)
{
    pthread_mutex_lock(&m->lock);
    m->shared.slot = *s;
    pthread_mutex_unlock(&m->lock);
}

metrics_slot metrics_get_slot(relay_metrics *m)
{
    metrics_slot s;

    pthread_mutex_lock(&m->lock);
    s = m->shared.slot;
    pthread_mutex_unlock(&m->lock);
    return s;
}

void metrics_backfill_rows(relay_metrics *m, uint64_t done, uint64_t total)
{
    pthread_mutex_lock(&m->lock);
    m->shared.backfill = true;
    m->shared.backfill_rows_done = done;
    m->shared.backfill_rows_total = total;
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering (the HTTP thread) ---- */

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(FILE *f, const char *name, const char *help, const metrics_histogram *h,
                      const double *le)
{
    uint64_t cum = 0;

    head(f, name, "histogram", help);
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cum += h->buckets[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, le[i], cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
            h->count, name, h->sum, name, h->count);
}

/* The standard process metrics, from /proc/self (Linux). */
typedef struct proc_stats {
    bool ok;
    double cpu_s;
    uint64_t rss_bytes, vsize_bytes;
    int open_fds;
    double start_s;
} proc_stats;

static void read_proc(proc_stats *ps, int64_t fallback_start_s)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    char *p;
    unsigned long utime = 0, stime = 0, vsize = 0;
    unsigned long long starttime = 0;
    long rss = 0, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    DIR *d;
    struct dirent *e;

    memset(ps, 0, sizeof *ps);
    ps->start_s = (double)fallback_start_s;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which is in parentheses and may hold anything. */
    p = strrchr(buf, ')');
    if (p != NULL &&
        sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
               "%llu %lu %ld",
               &utime, &stime, &starttime, &vsize, &rss) == 5 &&
        ticks > 0) {
        FILE *sf = fopen("/proc/stat", "r");
        char line[256];
        unsigned long long btime = 0;

        ps->ok = true;
        ps->cpu_s = (double)(utime + stime) / (double)ticks;
        ps->rss_bytes = (uint64_t)rss * (uint64_t)page;
        ps->vsize_bytes = vsize;
        while (sf != NULL && fgets(line, sizeof line, sf) != NULL)
            if (sscanf(line, "btime %llu", &btime) == 1)
                ps->start_s = (double)btime + (double)starttime / (double)ticks;
        if (sf != NULL)
            fclose(sf);
    }
    if ((d = opendir("/proc/self/fd")) != NULL) {
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                ps->open_fds++;
        ps->open_fds--; /* the directory's own descriptor */
        closedir(d);
    }
}

char *metrics_render(relay_metrics *m, size_t *len)
{
    metrics_values v;
    proc_stats ps;
    char *out = NULL;
    FILE *f;
    int64_t oldest = atomic_load(&m->oldest_unconfirmed), now = clock_mono_ms();
    metrics_state st = metrics_get_state(m);

    pthread_mutex_lock(&m->lock);
    v = m->shared;
    pthread_mutex_unlock(&m->lock);
    read_proc(&ps, m->start_wall_s);
    if ((f = open_memstream(&out, len)) == NULL)
        return NULL;

    head(f, PREFIX "build_info", "gauge", "The relay's version and command; always 1.");
    fprintf(f, PREFIX "build_info{version=\"%s\",command=\"%s\"} 1\n", RELAY_VERSION, m->command);
    head(f, PREFIX "state", "gauge", "What the relay is doing: 1 for its state, 0 for the others.");
    for (size_t i = 0; i < NSTATES; i++)
        fprintf(f, PREFIX "state{state=\"%s\"} %d\n", state_names[i], (int)i == (int)st);

    head(f, PREFIX "events_published_total", "counter",
         "Events committed to Kafka as mapped (dead letters not included).");
    fprintf(f, PREFIX "events_published_total %" PRIu64 "\n", v.events);
    head(f, PREFIX "dead_letters_total", "counter",
         "Events committed to the dead-letter topic instead, by reason.");
    for (int r = POLICY_VALID + 1; r < METRICS_REASONS; r++)
        fprintf(f, PREFIX "dead_letters_total{reason=\"%s\"} %" PRIu64 "\n",
                policy_reason_name((policy_reason)r), v.dead_letters[r]);
    head(f, PREFIX "kafka_transactions_total", "counter",
         "Kafka transactions, by how they ended (aborted ones are replayed).");
    fprintf(f,
            PREFIX "kafka_transactions_total{result=\"committed\"} %" PRIu64 "\n" PREFIX
                   "kafka_transactions_total{result=\"aborted\"} %" PRIu64 "\n",
            v.txns_committed, v.txns_aborted);
    head(f, PREFIX "checkpoint_only_transactions_total", "counter",
         "Committed Kafka transactions that carried only a checkpoint (idle advance).");
    fprintf(f, PREFIX "checkpoint_only_transactions_total %" PRIu64 "\n", v.checkpoint_only);
    head(f, PREFIX "postgres_reconnects_total", "counter",
         "Replication connections opened again after a loss or a rewind.");
    fprintf(f, PREFIX "postgres_reconnects_total %" PRIu64 "\n", v.pg_reconnects);
    head(f, PREFIX "messages_ignored_total", "counter",
         "Logical decoding messages that are not events (outbox.source = \"messages\"): "
         "another prefix, or non-transactional.");
    fprintf(f,
            PREFIX "messages_ignored_total{reason=\"other_prefix\"} %" PRIu64 "\n" PREFIX
                   "messages_ignored_total{reason=\"non_transactional\"} %" PRIu64 "\n",
            v.messages_other_prefix, v.messages_non_transactional);

    head(f, PREFIX "lag_seconds", "gauge",
         "Age of the oldest change received and not yet committed to Kafka; 0 when caught up.");
    fprintf(f, PREFIX "lag_seconds %.3f\n",
            oldest != 0 && now > oldest ? (double)(now - oldest) / 1000.0 : 0.0);
    if (v.have_slot_lag) {
        head(f, PREFIX "slot_lag_bytes", "gauge",
             "The server's WAL end minus the slot position the relay confirmed (keepalives).");
        fprintf(f, PREFIX "slot_lag_bytes %" PRIu64 "\n", v.slot_lag_bytes);
    }
    if (v.slot.have) {
        head(f, PREFIX "retained_wal_bytes", "gauge",
             "WAL the slot holds on the server: current WAL LSN minus restart_lsn.");
        fprintf(f, PREFIX "retained_wal_bytes %" PRId64 "\n", v.slot.retained_wal_bytes);
        head(f, PREFIX "slot_wal_status", "gauge",
             "pg_replication_slots.wal_status of the slot: 1 for its value.");
        static const char *const statuses[] = {"reserved", "extended", "unreserved", "lost"};
        for (size_t i = 0; i < 4; i++)
            fprintf(f, PREFIX "slot_wal_status{wal_status=\"%s\"} %d\n", statuses[i],
                    strcmp(v.slot.wal_status, statuses[i]) == 0);
        if (v.slot.have_safe_wal_size) {
            head(f, PREFIX "slot_safe_wal_size_bytes", "gauge",
                 "WAL that can still be written before the slot is in danger of being lost.");
            fprintf(f, PREFIX "slot_safe_wal_size_bytes %" PRId64 "\n", v.slot.safe_wal_size);
        }
    }
    histogram(f, PREFIX "end_to_end_seconds", "From created_at to the Kafka commit, per record.",
              &v.end_to_end, end_to_end_le);
    histogram(f, PREFIX "kafka_commit_seconds", "Duration of one Kafka commit.", &v.commit,
              commit_le);
    if (v.backfill) {
        head(f, PREFIX "backfill_rows", "gauge", "Rows of the backfill job's selection.");
        fprintf(f, PREFIX "backfill_rows %" PRIu64 "\n", v.backfill_rows_total);
        head(f, PREFIX "backfill_rows_done", "gauge",
             "Rows of the backfill job's selection published (or skipped as done before).");
        fprintf(f, PREFIX "backfill_rows_done %" PRIu64 "\n", v.backfill_rows_done);
    }

    if (ps.ok) {
        head(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
        fprintf(f, "process_cpu_seconds_total %.2f\n", ps.cpu_s);
        head(f, "process_resident_memory_bytes", "gauge", "Resident memory size.");
        fprintf(f, "process_resident_memory_bytes %" PRIu64 "\n", ps.rss_bytes);
        head(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
        fprintf(f, "process_virtual_memory_bytes %" PRIu64 "\n", ps.vsize_bytes);
    }
    head(f, "process_open_fds", "gauge", "Open file descriptors.");
    fprintf(f, "process_open_fds %d\n", ps.open_fds);
    head(f, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
    fprintf(f, "process_start_time_seconds %.2f\n", ps.start_s);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
