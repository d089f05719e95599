/* tac_threads.h - private to the library: the thread count of a call, and OpenBLAS's process-wide thread count
 * lowered for the duration of a call and restored exactly afterwards.
 *
 * OpenBLAS has no per-call thread count, only openblas_set_num_threads (process-wide). A call that must use fewer
 * BLAS threads brackets its work with tac_blas_threads_enter / tac_blas_threads_leave: the first enter (across all
 * threads of the process) records openblas_get_num_threads(), the last leave sets exactly that value again, so the
 * caller's setting is unchanged once no taclust call is running. While a call is inside, other BLAS users in the
 * process see the lowered count too (OpenBLAS offers nothing finer).
 */
#ifndef TAC_THREADS_H
#define TAC_THREADS_H

#include <stdint.h>

/* threads <= 0: all the library may use (tac_num_threads()); otherwise threads itself. Always >= 1. */
int tac_threads_resolve(int threads);
/* Lowers OpenBLAS to n threads (n >= 1) for a call; must be paired with tac_blas_threads_leave. */
void tac_blas_threads_enter(int n);
void tac_blas_threads_leave(void);
/* Bounds OpenBLAS to n threads for a call: sets min(the caller's count, n), where the caller's count is the one
 * before any taclust call entered (another call may have lowered it for itself meanwhile), deciding under the lock;
 * returns 1 and the call ends with tac_blas_threads_leave (it always enters, so no other call's leave raises the
 * count under this call's BLAS calls). */
int tac_blas_threads_lower(int n);

#endif
