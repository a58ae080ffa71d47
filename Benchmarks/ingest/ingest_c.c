/*
 * Reference figure for `cellbench-bench ingest`: the same samples, inserted
 * with the plain sqlite3 C API into a store with the same schema (created
 * empty by `cellbench-bench ingest --schema-only`), the same pragmas and the
 * same batch size, one transaction per batch, in one thread.
 *
 * usage: ingest_c STORE SAMPLES CHANNELS BATCH_SIZE
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static sqlite3 *db;

static void check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "ingest_c: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void exec(const char *sql) { check(sqlite3_exec(db, sql, NULL, NULL, NULL), sql); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void flush_block(sqlite3_stmt *block, int64_t channel, int64_t number, int64_t lo, int64_t hi) {
    sqlite3_bind_int64(block, 1, channel);
    sqlite3_bind_int64(block, 2, number);
    sqlite3_bind_int64(block, 3, lo);
    sqlite3_bind_int64(block, 4, hi);
    check(sqlite3_step(block), "block");
    sqlite3_reset(block);
}
int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s STORE SAMPLES CHANNELS BATCH_SIZE\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long samples = atol(argv[2]), channels = atol(argv[3]), batch = atol(argv[4]);
    if (samples <= 0 || channels <= 0 || batch <= 0) {
        fprintf(stderr, "ingest_c: SAMPLES, CHANNELS and BATCH_SIZE must be positive\n");
        return 2;
    }
    check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL), path);
    exec("PRAGMA busy_timeout = 5000");
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");

    sqlite3_stmt *insert;
    check(sqlite3_prepare_v3(db,
        "INSERT OR IGNORE INTO samples (channel, sequence, monotonic_ns, wall_ns, instrument_time_s, "
        "voltage_v, current_a, temperature_c, charge_ah) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        -1, SQLITE_PREPARE_PERSISTENT, &insert, NULL), "prepare");

    /* The block index: one upsert per channel per block touched by a batch, as the batch writer does. */
    sqlite3_stmt *block;
    check(sqlite3_prepare_v3(db,
        "INSERT INTO sample_blocks (channel, block, min_wall_ns, max_wall_ns) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (channel, block) DO UPDATE SET min_wall_ns = min(min_wall_ns, excluded.min_wall_ns), "
        "max_wall_ns = max(max_wall_ns, excluded.max_wall_ns)",
        -1, SQLITE_PREPARE_PERSISTENT, &block, NULL), "prepare block");
    int64_t *block_of = calloc((size_t)channels, sizeof(int64_t));
    int64_t *min_wall = calloc((size_t)channels, sizeof(int64_t));
    int64_t *max_wall = calloc((size_t)channels, sizeof(int64_t));
    char *open_block = calloc((size_t)channels, 1);
    if (!block_of || !min_wall || !max_wall || !open_block) { fprintf(stderr, "ingest_c: out of memory\n"); return 1; }
    double start = now();
    long batches = 0;
    for (long n = 0; n < samples;) {
        exec("BEGIN IMMEDIATE");
        for (long end = n + batch < samples ? n + batch : samples; n < end; n++) {
            int64_t t = (int64_t)n * 1000;
            sqlite3_bind_int64(insert, 1, n % channels + 1);
            sqlite3_bind_int64(insert, 2, n / channels + 1);
            sqlite3_bind_int64(insert, 3, t);
            sqlite3_bind_int64(insert, 4, INT64_C(1772366400000000000) + t);
            sqlite3_bind_double(insert, 5, (double)n * 1e-6);
            sqlite3_bind_double(insert, 6, 3.7 + (double)(n % 100) * 1e-4);
            sqlite3_bind_double(insert, 7, 1.5);
            sqlite3_bind_double(insert, 8, 25.0);
            sqlite3_bind_double(insert, 9, (double)n * 1e-7);
            check(sqlite3_step(insert), "insert");
            sqlite3_reset(insert);
            long c = n % channels;
            int64_t b = (n / channels + 1) >> 12, wall = INT64_C(1772366400000000000) + t;
            if (open_block[c] && block_of[c] != b) {
                flush_block(block, c + 1, block_of[c], min_wall[c], max_wall[c]);
                open_block[c] = 0;
            }
            if (!open_block[c]) { open_block[c] = 1; block_of[c] = b; min_wall[c] = wall; max_wall[c] = wall; }
            if (wall < min_wall[c]) min_wall[c] = wall;
            if (wall > max_wall[c]) max_wall[c] = wall;
        }
        for (long c = 0; c < channels; c++) {
            if (open_block[c]) flush_block(block, c + 1, block_of[c], min_wall[c], max_wall[c]);
            open_block[c] = 0;
        }
        exec("COMMIT");
        batches++;
    }
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
    double seconds = now() - start;
    sqlite3_finalize(insert);
    sqlite3_finalize(block);
    free(block_of); free(min_wall); free(max_wall); free(open_block);
    sqlite3_close(db);
    printf("c: %ld samples, %ld channels, batch %ld: %.0f samples/s (%.3f s); %ld batches\n",
           samples, channels, batch, (double)samples / seconds, seconds, batches);
    return 0;
}
