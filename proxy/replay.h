/*
 * replay.h - `migproxy replay CAPTURE --connect ADDR`: send the source's
 * side of a captured migration to a destination QEMU again, so that a
 * destination's failure can be reproduced without the source VM.
 */
#ifndef MP_PROXY_REPLAY_H
#define MP_PROXY_REPLAY_H

/* The subcommand; @argv[0] is "replay".  Returns the exit status. */
int mp_replay_main(int argc, char **argv);

#endif
