#ifndef CSPAWN_H
#define CSPAWN_H

#include <spawn.h>

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34 and later), which spawn.h declares only
/// under _GNU_SOURCE: the child closes every descriptor from `from` on before it runs the program.
int cspawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

#endif
