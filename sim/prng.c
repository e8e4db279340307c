/* prng.c — seeded random streams for the simulator.
 *
 * One seed is split into independent streams, one per purpose (a node's ops->random, a
 * link's delays, a link's faults, the nemesis, each client): splitmix64 over
 * (seed, stream id) seeds a xoshiro256** generator. Because every consumer has its own
 * stream, turning one fault on or drawing one more number somewhere does not shift any other
 * stream, so a seed's schedule stays recognisable when the scenario changes a little. */
#include "troupe.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void tr_sim_rng_init(tr_sim_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t a = seed;
    uint64_t b = stream ^ 0x6a09e667f3bcc909ull;
    uint64_t x = splitmix64(&a) ^ rotl(splitmix64(&b), 17);
    for (int i = 0; i < 4; i++) {
        rng->s[i] = splitmix64(&x);
    }
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0) {
        rng->s[0] = 1; /* xoshiro's one forbidden state */
    }
}

uint64_t tr_sim_rng_next(tr_sim_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tr_sim_rng_below(tr_sim_rng *rng, uint64_t n) {
    /* Lemire's multiply-shift; the bias (< n / 2^64) does not matter for simulation. */
    if (n == 0) {
        return 0;
    }
    return (uint64_t)(((unsigned __int128)tr_sim_rng_next(rng) * n) >> 64);
}

double tr_sim_rng_unit(tr_sim_rng *rng) {
    return (double)(tr_sim_rng_next(rng) >> 11) * 0x1.0p-53;
}
