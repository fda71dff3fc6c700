/* The kernel's floor for `run` of the bench bundle: what any runtime must
 * ask of the kernel to start /bin/true the way the bundle's config says,
 * and nothing else (no config parsing, no state, no cgroups, no checks).
 * hack/bench.sh builds it and times it next to the runtimes.
 *
 *   floor ROOTFS [-m MASKED]... [-r READONLY]... -- PROGRAM [ARG]...
 *
 * A clone with the config's six namespaces (mount, uts, ipc, pid, net,
 * cgroup); in the child: the rootfs bound onto itself, the config's mounts
 * (proc, /dev tmpfs, devpts, shm, mqueue, sysfs, and a read-only tmpfs at
 * /sys/fs/cgroup where a runtime mounts the hierarchies), the default
 * device nodes and links, the hostname, pivot_root, the masked paths
 * (/dev/null over a file, a read-only tmpfs over a directory), the
 * read-only paths (bind and remount), then execve. The parent waits.
 *
 * Two steps every runtime takes beyond that, each behind a flag, so the bench
 * can show the kernel's own cost of them:
 *   -c NAME  a cgroup NAME at the root of every mounted hierarchy, made
 *            before the clone and removed after the wait; the child is
 *            born in the v2 one (CLONE_INTO_CGROUP) and moves itself into
 *            the v1 ones first thing ("0" to tasks), as tong does
 *   -e       starts twice: execs itself once more first (a runtime's re-exec
 *            from an unwritable copy of itself, CVE-2019-5736) */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    _exit(1);
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
    if (mount(src, dst, type, flags, data) < 0)
        die(dst);
}

static char **masked, **readonly, **prog, *root;
static int n_masked, n_readonly;
/* -c: the cgroup directories made, the v1 tasks files to write "0" to, the
 * v2 directory to be born in. */
static char *cg_dirs[32];
static int n_cg, cg_tasks[32], n_tasks, cg_v2 = -1;

/* A new v1 cpuset starts with no cpus and mems, and refuses tasks until
 * given some: the parent's, as runtimes do. */
static void cpuset_inherit(const char *parent, const char *d) {
    static const char *files[] = {"cpuset.cpus", "cpuset.mems"};
    for (int i = 0; i < 2; i++) {
        char from[600], to[600], buf[256];
        snprintf(from, sizeof from, "%s/%s", parent, files[i]);
        snprintf(to, sizeof to, "%s/%s", d, files[i]);
        int in = open(from, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return; /* not the cpuset hierarchy */
        ssize_t n = read(in, buf, sizeof buf);
        close(in);
        int out = open(to, O_WRONLY | O_CLOEXEC);
        if (n <= 0 || out < 0 || write(out, buf, (size_t)n) != n)
            die(to);
        close(out);
    }
}

static void cgroups_make(const char *name) {
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f)
        die("/proc/self/mounts");
    char dev[256], dir[512], type[64];
    while (n_cg < 32 && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
        int is_v2 = !strcmp(type, "cgroup2");
        if (!is_v2 && strcmp(type, "cgroup"))
            continue;
        char *d;
        if (asprintf(&d, "%s/%s", dir, name) < 0)
            die("asprintf");
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            die(d);
        cg_dirs[n_cg++] = d;
        if (!is_v2)
            cpuset_inherit(dir, d);
        char *t;
        if (asprintf(&t, "%s/%s", d, is_v2 ? "cgroup.procs" : "tasks") < 0)
            die("asprintf");
        int fd = open(t, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            die(t);
        if (is_v2) { /* born in it (CLONE_INTO_CGROUP), v1's joined */
            close(fd);
            cg_v2 = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
        } else {
            cg_tasks[n_tasks++] = fd;
        }
    }
    fclose(f);
}

static void cgroups_join(void) {
    for (int i = 0; i < n_tasks; i++)
        if (write(cg_tasks[i], "0", 1) != 1)
            die("join cgroup");
}

static int child(void) {
    cgroups_join();
    mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    mnt(".", ".", NULL, MS_BIND | MS_REC, NULL);
    if (chdir(root) < 0) /* onto the bind mount just made */
        die(root);
    mnt("proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
    mnt("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    mkdir("dev/pts", 0755);
    mnt("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mkdir("dev/shm", 0755);
    mnt("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
    mkdir("dev/mqueue", 0755);
    mnt("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
    mnt("sysfs", "sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
    mnt("tmpfs", "sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, "mode=755");
    static const struct { const char *name; int major, minor; } devs[] = {
        {"dev/null", 1, 3}, {"dev/zero", 1, 5}, {"dev/full", 1, 7},
        {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},
    };
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
        if (mknod(devs[i].name, S_IFCHR | 0666, makedev(devs[i].major, devs[i].minor)) < 0)
            die(devs[i].name);
    static const char *links[][2] = {
        {"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
        {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
        {"pts/ptmx", "dev/ptmx"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlink(links[i][0], links[i][1]) < 0)
            die(links[i][1]);
    if (sethostname("tong", 4) < 0)
        die("sethostname");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die("umount old root");
    if (chdir("/") < 0)
        die("chdir");
    for (int i = 0; i < n_masked; i++) {
        struct stat st;
        if (stat(masked[i], &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            mnt("tmpfs", masked[i], "tmpfs", MS_RDONLY, NULL);
        else
            mnt("/dev/null", masked[i], NULL, MS_BIND, NULL);
    }
    for (int i = 0; i < n_readonly; i++) {
        if (access(readonly[i], F_OK) < 0)
            continue;
        mnt(readonly[i], readonly[i], NULL, MS_BIND | MS_REC, NULL);
        mnt(NULL, readonly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    }
    execv(prog[0], prog);
    die(prog[0]);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4)
        return fprintf(stderr, "usage: floor ROOTFS [-e] [-c NAME] [-m P]... [-r P]... -- PROG [ARG]...\n"), 2;
    masked = calloc(argc, sizeof *masked);
    readonly = calloc(argc, sizeof *readonly);
    const char *cg_name = NULL;
    int i = 2;
    if (!strcmp(argv[i], "-e")) {
        if (!getenv("FLOOR_AGAIN")) {
            setenv("FLOOR_AGAIN", "1", 1);
            execv("/proc/self/exe", argv);
            die("re-exec");
        }
        unsetenv("FLOOR_AGAIN");
        i++;
    }
    for (; i < argc && strcmp(argv[i], "--"); i += 2) {
        if (i + 1 >= argc)
            return 2;
        if (!strcmp(argv[i], "-c"))
            cg_name = argv[i + 1];
        else if (!strcmp(argv[i], "-m"))
            masked[n_masked++] = argv[i + 1];
        else if (!strcmp(argv[i], "-r"))
            readonly[n_readonly++] = argv[i + 1];
        else
            return 2;
    }
    if (i + 1 >= argc)
        return 2;
    prog = argv + i + 1;
    root = argv[1];
    if (chdir(argv[1]) < 0)
        die(argv[1]);
    if (cg_name)
        cgroups_make(cg_name);
    struct clone_args ca = {
        .flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP,
        .exit_signal = SIGCHLD,
    };
    if (cg_v2 >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (unsigned long long)cg_v2;
    }
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid < 0)
        die("clone");
    if (pid == 0)
        _exit(child());
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    for (int j = n_cg - 1; j >= 0; j--)
        if (rmdir(cg_dirs[j]) < 0)
            die(cg_dirs[j]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
