// See core.h: the stand-in for asmjit's x86 header.
#pragma once
#include "core.h"
