/* Stands for the kernel header <linux/math64.h>: delalloc-kernel shim, see dk_kernel.h. */
#include "dk_kernel.h"
