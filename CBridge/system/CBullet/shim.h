// Bullet is C++ and only CBridge includes it; this module carries its pkg-config flags (double precision).
#pragma once
