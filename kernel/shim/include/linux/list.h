/* Stands for the kernel header <linux/list.h>: delalloc-kernel shim, see dk_kernel.h. */
#include "dk_kernel.h"
