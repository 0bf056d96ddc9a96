/*
 * clock.h - the clocks presignd reads: a monotonic one for durations,
 * deadlines and timers, and the wall clock for timestamps and credential
 * expiry. Every module asks here instead of calling clock_gettime itself.
 *
 * Monotonic values have an arbitrary origin: compare them with each other,
 * never with wall-clock times.
 */
#ifndef PRESIGND_CLOCK_H
#define PRESIGND_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Monotonic time in seconds, milliseconds, microseconds. */
double clock_mono(void);
int64_t clock_mono_ms(void);
uint64_t clock_mono_us(void);

/* Wall-clock (unix) time in seconds. */
double clock_wall(void);

/* Seconds since T0, a monotonic time stamp taken with clock_mono_ts(). */
double clock_since(const struct timespec *t0);
void clock_mono_ts(struct timespec *out);

/* SECONDS (negative: 0) as a struct timeval, for libevent timers. */
struct timeval clock_tv(double seconds);

#endif
