/*
 * offline.h - the subcommands that judge files instead of a live
 * migration: `migproxy diff A B` and `migproxy check FILE`.
 */
#ifndef MP_PROXY_OFFLINE_H
#define MP_PROXY_OFFLINE_H

/* argv[0] is the subcommand's name.  Exit status: 0 compatible, 1 not,
 * 2 usage or I/O error, or an input that does not decode. */
int mp_offline_diff(int argc, char **argv);
int mp_offline_check(int argc, char **argv);

#endif
