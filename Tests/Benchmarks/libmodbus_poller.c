/* The C peer of `make bench`: one thread polls TCP meters in turn with libmodbus, the agent's own
 * plan (the same requests), once every INTERVAL_MS (0: back to back). Reads only.
 *
 *   libmodbus_poller SECONDS INTERVAL_MS PLAN_FILE PORT [PORT...]
 *
 * Prints one JSON line: points, errors, seconds, cpu_seconds. */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct request { int input; int start; int count; int points; };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s SECONDS INTERVAL_MS PLAN_FILE PORT...\n", argv[0]); return 2; }
    double seconds = atof(argv[1]), interval = atof(argv[2]) / 1000.0;
    struct request plan[64];
    int planned = 0;
    FILE *f = fopen(argv[3], "r");
    if (!f) { perror(argv[3]); return 1; }
    char table[32], start[32];
    while (planned < 64 && fscanf(f, "%31s %31s %d %d", table, start, &plan[planned].count, &plan[planned].points) == 4) {
        plan[planned].input = strcmp(table, "input") == 0;
        plan[planned].start = (int)strtol(start, NULL, 0);
        planned++;
    }
    fclose(f);
    int meters = argc - 4;
    modbus_t **ctx = calloc(meters, sizeof *ctx);
    for (int i = 0; i < meters; i++) {
        ctx[i] = modbus_new_tcp("127.0.0.1", atoi(argv[4 + i]));
        modbus_set_slave(ctx[i], 1);
        modbus_set_response_timeout(ctx[i], 2, 0);
        if (modbus_connect(ctx[i]) == -1) { fprintf(stderr, "port %s: %s\n", argv[4 + i], modbus_strerror(errno)); return 1; }
    }
    uint16_t regs[125];
    long points = 0, errors = 0;
    double t0 = now_s(), tick = t0;
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < meters; i++)
            for (int r = 0; r < planned; r++) {
                int n = plan[r].input ? modbus_read_input_registers(ctx[i], plan[r].start, plan[r].count, regs)
                                      : modbus_read_registers(ctx[i], plan[r].start, plan[r].count, regs);
                if (n == plan[r].count) points += plan[r].points; else errors++;
            }
        if (interval > 0) {
            tick += interval;
            double wait = tick - now_s();
            if (wait > 0) {
                struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };
                nanosleep(&ts, NULL);
            }
        }
    }
    double elapsed = now_s() - t0;
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    double cpu = u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
    printf("{\"points\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"cpu_seconds\": %.3f}\n", points, errors, elapsed, cpu);
    for (int i = 0; i < meters; i++) { modbus_close(ctx[i]); modbus_free(ctx[i]); }
    free(ctx);
    return 0;
}
