/* planted_race.c — proof that the TSan build is really instrumented: two threads increment
 * a plain counter with no lock. Under -Dtsan=true this program MUST be reported (TSan exits
 * with 66, which build.zig expects); if it ever exits 0 there, the stress programs' clean
 * runs prove nothing. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static long counter; /* the planted bug: no lock, no atomic */

static void *bump(void *arg) {
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        counter++;
    }
    return NULL;
}

int main(void) {
    pthread_t a, b;
    pthread_create(&a, NULL, bump, NULL);
    pthread_create(&b, NULL, bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert(counter > 0); /* both threads ran; the count itself is whatever the race left */
    printf("planted race ran: counter %ld\n", counter);
    return 0;
}
