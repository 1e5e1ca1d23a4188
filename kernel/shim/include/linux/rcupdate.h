/* Stands for the kernel header <linux/rcupdate.h>: delalloc-kernel shim, see dk_kernel.h. */
#include "dk_kernel.h"
