/* hcsim platform layer: the tests every platform runs (time, condition variables,
 * threads, GUIDs). The POSIX-only ones are in test_plat.c, the Win32-only ones in
 * test_plat_win32.c. */
#include "harness.h"
#include "plat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

TEST(plat_time_and_sleep) {
    uint64_t a = plat_now_ns(), am = plat_now_ms();
    plat_sleep_ms(30);
    uint64_t b = plat_now_ns(), bm = plat_now_ms();
    CHECK(b - a >= 30000000u);
    CHECK(b - a < 2000000000u);
    CHECK(bm >= am + 29);
    CHECK(am == a / 1000000u || am == a / 1000000u + 1);
}

TEST(plat_cond_timedwait_timeout) {
    plat_mutex m;
    plat_cond c;
    REQUIRE(plat_mutex_init(&m) == 0);
    REQUIRE(plat_cond_init(&c) == 0);
    plat_mutex_lock(&m);
    uint64_t t0 = plat_now_ns();
    CHECK(plat_cond_timedwait(&c, &m, 0) == ETIMEDOUT);
    CHECK(plat_now_ns() - t0 < 500000000u);
    /* 100 ms: within [100, 100+slack) ms. */
    t0 = plat_now_ns();
    int rc = plat_cond_timedwait(&c, &m, 100);
    uint64_t el = plat_now_ns() - t0;
    CHECK(rc == ETIMEDOUT);
    CHECK(el >= 100000000u);
    CHECK(el < 1000000000u); /* generous: the CI machine may be loaded */
    /* Many short waits: whatever the sub-second phase of the clock, tv_nsec must be
     * normalised (an unnormalised deadline fails with EINVAL, returned immediately). */
    int bad = 0;
    for (int i = 0; i < 60; i++) {
        t0 = plat_now_ns();
        uint32_t ms = (uint32_t)(1 + (i * 37) % 23);
        if (plat_cond_timedwait(&c, &m, ms) != ETIMEDOUT) bad++;
        if (plat_now_ns() - t0 < (uint64_t)ms * 1000000u) bad++;
    }
    CHECK(bad == 0);
    plat_mutex_unlock(&m);
    plat_cond_destroy(&c);
    plat_mutex_destroy(&m);
}

struct signaller {
    plat_mutex *m;
    plat_cond *c;
    int *flag;
};

static void signaller_main(void *p) {
    struct signaller *s = p;
    plat_sleep_ms(20);
    plat_mutex_lock(s->m);
    *s->flag = 1;
    plat_cond_signal(s->c);
    plat_mutex_unlock(s->m);
}

TEST(plat_cond_timedwait_signalled) {
    plat_mutex m;
    plat_cond c;
    REQUIRE(plat_mutex_init(&m) == 0);
    REQUIRE(plat_cond_init(&c) == 0);
    int flag = 0;
    struct signaller s = {&m, &c, &flag};
    plat_thread t;
    uint64_t t0 = plat_now_ms();
    plat_mutex_lock(&m);
    REQUIRE(plat_thread_create(&t, signaller_main, &s) == 0);
    int rc = 0;
    while (!flag && rc == 0) rc = plat_cond_timedwait(&c, &m, 4000);
    plat_mutex_unlock(&m);
    plat_thread_join(&t);
    CHECK(rc == 0 && flag == 1);
    CHECK(plat_now_ms() - t0 < 3000);
    /* plat_cond_wait + broadcast. */
    flag = 0;
    plat_mutex_lock(&m);
    REQUIRE(plat_thread_create(&t, signaller_main, &s) == 0);
    while (!flag) plat_cond_wait(&c, &m);
    plat_mutex_unlock(&m);
    plat_thread_join(&t);
    CHECK(flag == 1);
    plat_cond_destroy(&c);
    plat_mutex_destroy(&m);
}

TEST(plat_guid_format_and_uniqueness) {
    enum { N = 2000 };
    static char g[N][37];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        memset(g[i], 'X', sizeof g[i]);
        plat_new_guid(g[i]);
        const char *s = g[i];
        if (strlen(s) != 36) bad++;
        for (int k = 0; k < 36; k++) {
            int dash = (k == 8 || k == 13 || k == 18 || k == 23);
            if (dash ? s[k] != '-'
                     : !((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
                bad++;
        }
        if (s[14] != '4') bad++;
        if (!strchr("89ab", s[19])) bad++;
    }
    CHECK(bad == 0);
    qsort(g, N, sizeof g[0], (int (*)(const void *, const void *))strcmp);
    int dups = 0;
    for (int i = 1; i < N; i++) dups += strcmp(g[i - 1], g[i]) == 0;
    CHECK(dups == 0);
}
