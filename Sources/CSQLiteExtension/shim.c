#include "CSQLiteExtension.h"
