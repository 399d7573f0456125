#pragma once
#include <errno.h>
#include <yaml.h>
