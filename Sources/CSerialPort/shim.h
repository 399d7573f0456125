#pragma once
#include <errno.h>
#include <libserialport.h>
