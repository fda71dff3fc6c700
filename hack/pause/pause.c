/* The pod sandbox's init: holds the pod's namespaces open, reaps the
 * orphans that land on it (PID 1 of a shared PID namespace) and exits 0 on
 * SIGINT or SIGTERM. Built static by hack/mkimage.py --pause. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigemptyset(&q.sa_mask);
  sigemptyset(&r.sa_mask);
  if (sigaction(SIGINT, &q, NULL) || sigaction(SIGTERM, &q, NULL) || sigaction(SIGCHLD, &r, NULL))
    return 1;
  for (;;)
    pause();
}
