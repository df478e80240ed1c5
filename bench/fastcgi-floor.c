/* The floor for any FastCGI responder behind nginx on this machine: libfcgi
 * threads that answer every request with a fixed page of a given size and do
 * nothing else. bench/run builds it with `cc -O2 -o ... fastcgi-floor.c -lfcgi -lpthread`.
 *   fastcgi-floor SOCKET THREADS PAGE_BYTES
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listener;
static char *page;
static int page_length;

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listener, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_FPrintF(request.out, "Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n", page_length);
        FCGX_PutStr(page, page_length, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET THREADS PAGE_BYTES\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]);
    page_length = atoi(argv[3]);
    page = malloc(page_length);
    memset(page, 'x', page_length);
    FCGX_Init();
    unlink(argv[1]);
    listener = FCGX_OpenSocket(argv[1], 1024);
    if (listener < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0666);
    pthread_t ids[256];
    for (int i = 0; i < threads && i < 256; i++) pthread_create(&ids[i], NULL, serve, NULL);
    for (int i = 0; i < threads && i < 256; i++) pthread_join(ids[i], NULL);
    return 0;
}
