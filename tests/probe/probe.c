/* A static helper copied into test containers, to read back from inside
 * the container what busybox cannot show: memory policy, scheduling
 * attributes, I/O priority, 32-bit system calls, per-thread seccomp
 * kills, raw system calls and the session keyring's security label.
 * Each subcommand prints one line. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sched_attr_probe {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

static void *call_getcpu(void *arg) {
    (void)arg;
    syscall(SYS_getcpu, NULL, NULL, NULL);
    return NULL;
}

static void on_usr1(int sig) {
    (void)sig;
    static const char msg[] = "handled SIGUSR1\n";
    write(1, msg, sizeof msg - 1);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "mempolicy")) {
        int mode = -1;
        unsigned long mask[16] = {0};
        if (syscall(SYS_get_mempolicy, &mode, mask, 16 * 64, NULL, 0) != 0) {
            printf("error=%d\n", errno);
            return 1;
        }
        printf("mode=%d mask=%lx\n", mode, mask[0]);
    } else if (!strcmp(argv[1], "sched")) {
        struct sched_attr_probe a;
        memset(&a, 0, sizeof a);
        if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0) {
            printf("error=%d\n", errno);
            return 1;
        }
        printf("policy=%u flags=%llu nice=%d priority=%u runtime=%llu deadline=%llu period=%llu\n",
               a.policy, (unsigned long long)a.flags, a.nice, a.priority,
               (unsigned long long)a.runtime, (unsigned long long)a.deadline,
               (unsigned long long)a.period);
    } else if (!strcmp(argv[1], "ioprio")) {
        long v = syscall(SYS_ioprio_get, 1, 0);
        if (v < 0) {
            printf("error=%d\n", errno);
            return 1;
        }
        printf("class=%ld level=%ld\n", v >> 13, v & 0x1fff);
    } else if (!strcmp(argv[1], "i386-getpid")) {
        /* getpid is 20 in the i386 table; int $0x80 enters it. */
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
        if (ret < 0)
            printf("errno=%ld\n", -ret);
        else
            printf("pid=%ld\n", ret);
    } else if (!strcmp(argv[1], "i386-syscall") && argc > 2) {
        /* Call number argv[2] of the i386 table, through int $0x80. */
        long ret;
        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(atol(argv[2])), "b"(0L), "c"(0L), "d"(0L)
                         : "memory");
        if (ret < 0)
            printf("errno=%ld\n", -ret);
        else
            printf("ret=%ld\n", ret);
    } else if (!strcmp(argv[1], "thread-getcpu")) {
        /* getcpu from a second thread; busybox never makes this call. */
        pthread_t t;
        pthread_create(&t, NULL, call_getcpu, NULL);
        pthread_join(t, NULL);
        printf("process survived\n");
    } else if (!strcmp(argv[1], "mkdir-with-handler") && argc > 2) {
        /* SIGUSR1 is caught (not fatal), without SA_RESTART. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        if (mkdir(argv[2], 0755) != 0)
            printf("errno=%d\n", errno);
        else
            printf("created\n");
    } else if (!strcmp(argv[1], "syscall") && argc > 2) {
        long ret = syscall(atol(argv[2]), 0, 0, 0, 0, 0, 0);
        if (ret < 0)
            printf("errno=%d\n", errno);
        else
            printf("ret=%ld\n", ret);
    } else if (!strcmp(argv[1], "file-label") && argc > 2) {
        /* What ls -Z shows: the security.selinux attribute of a path. */
        char buf[512];
        ssize_t n = lgetxattr(argv[2], "security.selinux", buf, sizeof buf - 1);
        if (n < 0) {
            printf("errno=%d\n", errno);
        } else {
            buf[n] = 0;
            printf("%s\n", buf);
        }
    } else if (!strcmp(argv[1], "keyring-label")) {
        /* KEYCTL_GET_SECURITY (17) of KEY_SPEC_SESSION_KEYRING (-3). */
        char buf[512];
        long n = syscall(SYS_keyctl, 17L, -3L, buf, sizeof buf - 1, 0L);
        if (n < 0) {
            printf("errno=%d\n", errno);
        } else {
            buf[n < (long)sizeof buf ? n : (long)sizeof buf - 1] = 0;
            printf("%s\n", buf);
        }
    } else {
        return 2;
    }
    return 0;
}
