/* Stands for the kernel header <linux/container_of.h>: delalloc-kernel shim, see dk_kernel.h. */
#include "dk_kernel.h"
