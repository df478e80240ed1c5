#ifndef INSTAGRAM_AUTH_CFASTCGI_SHIM_H
#define INSTAGRAM_AUTH_CFASTCGI_SHIM_H
#include <fcgiapp.h>
#endif
