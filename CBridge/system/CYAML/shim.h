// libyaml is parsed inside CBridge; this module carries its pkg-config flags.
#pragma once
