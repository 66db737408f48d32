/* version.c - the header's version macros as functions (see CShmemaphoreVersion.h). */
#include "CShmemaphoreVersion.h"

#include "../../include/shmemaphore.h"

unsigned shmemaphore_shim_version_number(void)
{
    return SHMEMAPHORE_VERSION_NUMBER;
}

const char *shmemaphore_shim_version_string(void)
{
    return SHMEMAPHORE_VERSION_STRING;
}
