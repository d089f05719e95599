/* tac_mpi.h - the taclust program's MPI transport (src/mpi/tac_mpi.c): starts MPI when the program was launched by
 * mpirun and built with Open MPI, and offers the library's communicator (taclust/dist.h) over MPI_COMM_WORLD.
 * Program-private: libtaclust has no MPI dependency.
 */
#ifndef TAC_MPI_H
#define TAC_MPI_H

#include "taclust/dist.h"

/* Called first thing in main. Under mpirun (Open MPI's / PMIx's environment) with MPI built in: MPI_Init and 0.
 * Under mpirun without MPI built in and more than one rank: prints why and returns 1. Otherwise 0 (one process). */
int tac_mpi_start(int *argc, char ***argv);
/* The communicator (NULL when not started, or a single rank). */
const tac_comm *tac_mpi_comm(void);
int tac_mpi_rank(void);     /* 0 when not under MPI */
int tac_mpi_size(void);     /* 1 when not under MPI */
/* The payload bytes this rank has sent through the communicator so far (what the collectives must deliver: an
 * allgather part to each other rank, an allreduce's vector once per other rank as a direct exchange would, an
 * alltoall's parts for other ranks, a broadcast's bytes to each other rank from its root). MPI's algorithms move
 * somewhat more or less on the wire; this is the figure a cost model uses. 0 without MPI. */
unsigned long long tac_mpi_bytes_sent(void);
/* 1 when this build has MPI (TAC_HAVE_MPI). */
int tac_mpi_built(void);
/* Ends the process's MPI part: rc == 0, or a failure every rank already agreed on (tac_comm_check), finalizes;
 * a failure only this rank knows of aborts the job (MPI_Abort) so no other rank waits for it forever.
 * Returns rc. */
int tac_mpi_finish(int rc);
/* Commands that do not run on several ranks call this first: under mpirun with more than one rank it prints that
 * the command runs on one process and returns 2 (ranks other than 0 print nothing); else 0. */
int tac_mpi_single_only(const char *cmd);

#endif
