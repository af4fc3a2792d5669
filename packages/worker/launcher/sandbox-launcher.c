/*
 * The sandbox launcher in C: the same process and the same protocol as
 * sandbox-launcher.pl (see its header), built by build.mjs when a C
 * compiler is at hand; launcher.ts runs the Perl one otherwise.
 *
 * Why a second one: on a VM with paravirtualised page tables every page
 * fault costs tens of microseconds, and a fork makes the parent fault again
 * on every page it writes afterwards and the child on every page it writes
 * before its exec. The Perl launcher took about 100 such faults per sandbox
 * in itself and 40 in its child (measured: 4-5 ms of the launcher and 6 of
 * the child per sandbox). This one starts each sandbox the way vfork does
 * (clone with CLONE_VM and CLONE_VFORK, as posix_spawn does): the
 * child borrows the launcher's memory until it executes bwrap, so there is
 * no copy and no fault on either side. The price is the rule of vfork: the
 * child only makes system calls on what the parent prepared, writes nothing
 * of the parent's memory but its report, and never returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A frame larger than this is not a request of launcher.ts. */
#define MAX_FRAME (64u << 20)
/* A pipe holds this much without a reader (the seccomp program is a few KiB). */
#define PIPE_CAPACITY 65536
#define MAX_PROCS 8
#define MAX_LIMITS 8

struct job {
  char id[32];
  pid_t pid;
  int stderr_fd; /* -1 once its stderr is closed */
  int exited;
  int status;
};

static struct job *jobs;
static size_t job_count, job_capacity;
static int null_fd = -1;

/* What the child leaves for the parent: it shares this memory. */
struct child_report {
  const char *failed_step; /* NULL: bwrap is running */
  int error;
  int in_cgroup;
};

/* Everything the child needs, prepared by the parent before the clone. */
struct plan {
  const char *path;
  char **argv;
  char **envp;
  int stdout_fd, stderr_fd, seccomp_fd; /* seccomp_fd -1: none */
  const char *procs[MAX_PROCS];
  int proc_count;
  struct { int resource; rlim_t value; const char *step; } limits[MAX_LIMITS];
  int limit_count;
  int drop_ids;
  uid_t uid;
  gid_t gid;
  int has_gid;
  char pid_text[24];
  struct child_report report;
};

/* The child's own stack: it shares the launcher's memory, but not its stack
   (that is what vfork would do, and the compiler does not know). */
static char child_stack[256 * 1024] __attribute__((aligned(64)));

static void shutdown_all(void) {
  for (size_t i = 0; i < job_count; i++)
    if (jobs[i].pid > 0) kill(-jobs[i].pid, SIGKILL);
  _exit(0);
}

static void write_all(const char *data, size_t length) {
  while (length > 0) {
    ssize_t n = write(STDOUT_FILENO, data, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        /* A pipe the server made non-blocking, and full: wait for room. */
        struct pollfd out = {.fd = STDOUT_FILENO, .events = POLLOUT};
        poll(&out, 1, -1);
        continue;
      }
      shutdown_all(); /* the server is gone: nothing left to report to */
    }
    data += n;
    length -= (size_t)n;
  }
}

static void reply(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n > 0) write_all(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void fail(const char *id, const char *message, int error) {
  char text[1024];
  int n = error ? snprintf(text, sizeof text, "%s: %s", message, strerror(error))
                : snprintf(text, sizeof text, "%s", message);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof text) n = sizeof text - 1;
  reply("F %s %d\n", id, n);
  write_all(text, (size_t)n);
}

/* The decimal text of a number, without stdio (the child may not use it). */
static void decimal(long value, char *out) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *out++ = digits[--n];
  *out++ = '\n';
  *out = '\0';
}

/*
 * The child: everything that must hold before the sandbox's first
 * instruction, as bare system calls. Returns only on failure, having said
 * which step failed in the report.
 */
static void child_steps(struct plan *plan, struct child_report *report) {
#define FAIL(step)                   \
  do {                               \
    report->failed_step = (step);    \
    report->error = errno;           \
    return;                          \
  } while (0)
  /* The launcher ignores SIGPIPE, and an ignored signal stays ignored
     across execve; SIGCHLD is blocked in it for its signalfd. */
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  if (sigaction(SIGPIPE, &dfl, NULL) != 0) FAIL("sigaction");
  if (setsid() < 0) FAIL("setsid");
  decimal((long)syscall(SYS_getpid), plan->pid_text);
  int entered = plan->proc_count > 0;
  for (int i = 0; i < plan->proc_count; i++) {
    int fd = open(plan->procs[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      entered = 0;
      continue;
    }
    size_t length = strlen(plan->pid_text);
    if (write(fd, plan->pid_text, length) != (ssize_t)length) entered = 0;
    if (close(fd) != 0) entered = 0;
  }
  report->in_cgroup = entered;
  for (int i = 0; i < plan->limit_count; i++) {
    struct rlimit limit = {plan->limits[i].value, plan->limits[i].value};
    if (setrlimit(plan->limits[i].resource, &limit) != 0) FAIL(plan->limits[i].step);
  }
  if (dup2(null_fd, 0) < 0) FAIL("dup2 stdin");
  if (dup2(plan->stdout_fd, 1) < 0) FAIL("dup2 stdout");
  if (dup2(plan->stderr_fd, 2) < 0) FAIL("dup2 stderr");
  if (plan->seccomp_fd >= 0) {
    /* dup2 onto itself would keep close-on-exec: then clear it by hand. */
    if (plan->seccomp_fd == 3) {
      if (fcntl(3, F_SETFD, 0) != 0) FAIL("fcntl seccomp");
    } else if (dup2(plan->seccomp_fd, 3) < 0) {
      FAIL("dup2 seccomp");
    }
  }
  if (plan->has_gid) {
    /* One supplementary group, the sandbox's own; then real, effective and
       saved ids, group first (after the uid there is no right left). Raw
       calls: glibc's wrappers would sync other threads' ids, and this child
       shares the launcher's memory. */
    gid_t groups[1] = {plan->gid};
    if (syscall(SYS_setgroups, 1, groups) != 0) FAIL("setgroups");
    if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) != 0) FAIL("setgid");
  }
  if (plan->drop_ids) {
    if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) != 0) FAIL("setuid");
    if ((uid_t)syscall(SYS_getuid) != plan->uid || (uid_t)syscall(SYS_geteuid) != plan->uid) {
      errno = EPERM;
      FAIL("still privileged");
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(plan->path, plan->argv, plan->envp);
  FAIL("exec");
#undef FAIL
}

static int child_main(void *arg) {
  struct plan *plan = arg;
  child_steps(plan, &plan->report);
  return 127;
}

/* name: as the request says it; step: as a failure to set it is reported. */
static const struct { const char *name; int resource; const char *step; } LIMIT_NAMES[] = {
    {"data", RLIMIT_DATA, "setrlimit data"},    {"fsize", RLIMIT_FSIZE, "setrlimit fsize"},
    {"nofile", RLIMIT_NOFILE, "setrlimit nofile"}, {"core", RLIMIT_CORE, "setrlimit core"},
    {"nproc", RLIMIT_NPROC, "setrlimit nproc"},
};

/* NULL, or the pair that is not a limit this launcher knows. */
static const char *parse_limits(char *text, struct plan *plan) {
  for (char *save = NULL, *pair = strtok_r(text, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(pair, '=');
    if (!eq || plan->limit_count == MAX_LIMITS) return pair;
    *eq = '\0';
    int found = 0;
    for (size_t i = 0; i < sizeof LIMIT_NAMES / sizeof LIMIT_NAMES[0]; i++) {
      if (strcmp(pair, LIMIT_NAMES[i].name) != 0) continue;
      plan->limits[plan->limit_count].resource = LIMIT_NAMES[i].resource;
      plan->limits[plan->limit_count].step = LIMIT_NAMES[i].step;
      plan->limits[plan->limit_count].value = (rlim_t)strtoull(eq + 1, NULL, 10);
      plan->limit_count++;
      found = 1;
    }
    if (!found) return pair;
  }
  return NULL;
}

/* execvp's search, made in the parent: the child may not allocate. */
static const char *resolve(const char *name, char **envp, char *buffer, size_t size) {
  if (strchr(name, '/')) return name;
  const char *path = "/usr/bin:/bin";
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  while (*path) {
    const char *end = strchr(path, ':');
    size_t length = end ? (size_t)(end - path) : strlen(path);
    struct stat file;
    if (length > 0 && (size_t)snprintf(buffer, size, "%.*s/%s", (int)length, path, name) < size &&
        stat(buffer, &file) == 0 && S_ISREG(file.st_mode) && access(buffer, X_OK) == 0)
      return buffer;
    path += length + (end ? 1 : 0);
  }
  return NULL;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A pipe holding the seccomp program, closed for writing; its read end, or -1. */
static int seccomp_pipe(const char *hex, const char **why) {
  size_t length = strlen(hex) / 2;
  unsigned char program[PIPE_CAPACITY];
  if (length > sizeof program) {
    *why = "seccomp program too large";
    errno = 0;
    return -1;
  }
  for (size_t i = 0; i < length; i++) {
    int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      *why = "seccomp program is not hex";
      errno = 0;
      return -1;
    }
    program[i] = (unsigned char)(high << 4 | low);
  }
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) {
    *why = "pipe";
    return -1;
  }
  ssize_t written = write(ends[1], program, length);
  int error = errno;
  close(ends[1]);
  if (written != (ssize_t)length) {
    close(ends[0]);
    *why = "seccomp program";
    errno = written < 0 ? error : EPIPE;
    return -1;
  }
  return ends[0];
}

static void add_job(const char *id, pid_t pid, int stderr_fd) {
  if (job_count == job_capacity) {
    size_t capacity = job_capacity ? job_capacity * 2 : 64;
    struct job *grown = realloc(jobs, capacity * sizeof *jobs);
    if (!grown) {
      kill(-pid, SIGKILL);
      _exit(2);
    }
    jobs = grown;
    job_capacity = capacity;
  }
  struct job *job = &jobs[job_count++];
  snprintf(job->id, sizeof job->id, "%s", id);
  job->pid = pid;
  job->stderr_fd = stderr_fd;
  job->exited = 0;
  job->status = 0;
}

/* fields: "spawn", id, stdout, seccomp hex, uid, gid, procs, rlimits, argc, argv..., env... */
static void spawn_job(char **fields, size_t count) {
  const char *id = fields[1];
  if (strlen(id) >= sizeof jobs[0].id) return fail("?", "job id too long", 0);
  struct plan plan = {.seccomp_fd = -1};
  unsigned long argc = strtoul(fields[8], NULL, 10);
  if (argc < 1 || argc > count - 9) return fail(id, "bad argument count", 0);
  /* The argument and environment vectors: the fields themselves, each
     NUL-terminated, shifted one slot down to make room for each NULL. */
  char **vectors = malloc((count + 2) * sizeof *vectors);
  if (!vectors) return fail(id, "out of memory", ENOMEM);
  plan.argv = vectors;
  memcpy(plan.argv, fields + 9, argc * sizeof *fields);
  plan.argv[argc] = NULL;
  plan.envp = plan.argv + argc + 1;
  memcpy(plan.envp, fields + 9 + argc, (count - 9 - argc) * sizeof *fields);
  plan.envp[count - 9 - argc] = NULL;

  char resolved[PATH_MAX];
  char message[PATH_MAX + 16];
  const char *why = NULL;
  int stderr_pipe[2] = {-1, -1};
  plan.stdout_fd = -1;
  plan.path = resolve(plan.argv[0], plan.envp, resolved, sizeof resolved);
  if (!plan.path) {
    snprintf(message, sizeof message, "exec %s", plan.argv[0]);
    errno = ENOENT;
    why = message;
    goto failed;
  }
  if (fields[4][0]) {
    plan.drop_ids = 1;
    plan.uid = (uid_t)strtoul(fields[4], NULL, 10);
  }
  if (fields[5][0]) {
    plan.has_gid = 1;
    plan.gid = (gid_t)strtoul(fields[5], NULL, 10);
  }
  for (char *save = NULL, *p = strtok_r(fields[6], ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (plan.proc_count == MAX_PROCS) {
      errno = 0;
      why = "too many cgroups";
      goto failed;
    }
    plan.procs[plan.proc_count++] = p;
  }
  const char *unknown = parse_limits(fields[7], &plan);
  if (unknown) {
    snprintf(message, sizeof message, "unknown resource limit %s", unknown);
    errno = 0;
    why = message;
    goto failed;
  }
  plan.stdout_fd = open(fields[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (plan.stdout_fd < 0) {
    why = fields[2];
    goto failed;
  }
  if (fields[3][0] && (plan.seccomp_fd = seccomp_pipe(fields[3], &why)) < 0) goto failed;
  if (pipe2(stderr_pipe, O_CLOEXEC) != 0) {
    why = "pipe";
    goto failed;
  }
  plan.stderr_fd = stderr_pipe[1];
  /* Only the launcher's end: a read of it must never block the loop. */
  fcntl(stderr_pipe[0], F_SETFL, O_NONBLOCK);

  /* No handler may run in the child while it borrows this memory. */
  sigset_t all, before;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &before);
  /* vfork's way (posix_spawn's too): the launcher waits until the child
     has executed bwrap or given up, and the child writes only its report. */
  pid_t pid = clone(child_main, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int fork_error = errno;
  sigprocmask(SIG_SETMASK, &before, NULL);
  close(plan.stdout_fd);
  if (plan.seccomp_fd >= 0) close(plan.seccomp_fd);
  close(stderr_pipe[1]);
  free(vectors);
  if (pid < 0) {
    close(stderr_pipe[0]);
    return fail(id, "fork", fork_error);
  }
  if (plan.report.failed_step) {
    waitpid(pid, NULL, 0);
    close(stderr_pipe[0]);
    if (strcmp(plan.report.failed_step, "exec") == 0) {
      snprintf(message, sizeof message, "exec %s", fields[9]);
      return fail(id, message, plan.report.error);
    }
    return fail(id, plan.report.failed_step, plan.report.error);
  }
  add_job(id, pid, stderr_pipe[0]);
  reply("S %s %d %d\n", id, (int)pid, plan.report.in_cgroup ? 1 : 0);
  return;

failed: {
  int error = errno;
  if (plan.stdout_fd >= 0) close(plan.stdout_fd);
  if (plan.seccomp_fd >= 0) close(plan.seccomp_fd);
  if (stderr_pipe[0] >= 0) close(stderr_pipe[0]);
  if (stderr_pipe[1] >= 0) close(stderr_pipe[1]);
  free(vectors);
  fail(id, why, error);
}
}

/* The last reply for a job: once it has exited and its stderr is closed. */
static void finish(size_t index) {
  struct job *job = &jobs[index];
  if (!job->exited || job->stderr_fd >= 0) return;
  int status = job->status;
  if (WIFSIGNALED(status)) reply("X %s -1 %d\n", job->id, WTERMSIG(status));
  else reply("X %s %d 0\n", job->id, WEXITSTATUS(status));
  jobs[index] = jobs[--job_count];
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < job_count; i++) {
      if (jobs[i].pid != pid) continue;
      jobs[i].exited = 1;
      jobs[i].status = status;
      finish(i);
      break;
    }
  }
}

static char *input;
static size_t input_length, input_capacity;

static void handle_requests(void) {
  size_t offset = 0;
  for (;;) {
    char *nl = memchr(input + offset, '\n', input_length - offset);
    if (!nl) break;
    unsigned long length = strtoul(input + offset, NULL, 10);
    if (length > MAX_FRAME) {
      fprintf(stderr, "sandbox-launcher: a request of %lu bytes\n", length);
      shutdown_all();
    }
    size_t start = (size_t)(nl - input) + 1;
    if (input_length - start < length) break;
    /* The fields are NUL-separated: end the last one too, saving the byte
       that may be the next frame's first. */
    /* read_requests() keeps a byte free past the input, so this is in bounds. */
    char saved = input[start + length];
    input[start + length] = '\0';
    size_t count = 1;
    for (size_t i = 0; i < length; i++) count += input[start + i] == '\0';
    char **fields = malloc(count * sizeof *fields);
    if (!fields) shutdown_all();
    char *field = input + start;
    for (size_t i = 0; i < count; i++) {
      fields[i] = field;
      field += strlen(field) + 1;
    }
    if (count >= 10 && strcmp(fields[0], "spawn") == 0) spawn_job(fields, count);
    free(fields);
    input[start + length] = saved;
    offset = start + length;
  }
  memmove(input, input + offset, input_length - offset);
  input_length -= offset;
}

static void read_requests(void) {
  if (input_capacity - input_length < 65536 + 1) {
    size_t capacity = input_capacity ? input_capacity * 2 : 262144;
    while (capacity - input_length < 65536 + 1) capacity *= 2;
    char *grown = realloc(input, capacity);
    if (!grown) shutdown_all();
    input = grown;
    input_capacity = capacity;
  }
  ssize_t n = read(STDIN_FILENO, input + input_length, input_capacity - input_length - 1);
  if (n == 0) shutdown_all(); /* the server is gone */
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    shutdown_all();
  }
  input_length += (size_t)n;
  handle_requests();
}

int main(void) {
  /* Die with the server even when it is killed before it can close our stdin. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* Descriptors the server inherited without close-on-exec (from whoever
     started it) would reach every sandbox: none is kept past 0-2. */
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3, ~0u, 0) != 0)
#endif
    for (int fd = 3; fd < 65536; fd++) close(fd);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (signal_fd < 0 || null_fd < 0) {
    fprintf(stderr, "sandbox-launcher: %s\n", strerror(errno));
    return 2;
  }
  reply("ready %d\n", (int)getpid());

  struct pollfd *polls = NULL;
  size_t poll_capacity = 0;
  char chunk[65536];
  for (;;) {
    if (poll_capacity < job_count + 2) {
      poll_capacity = (job_count + 2) * 2;
      polls = realloc(polls, poll_capacity * sizeof *polls);
      if (!polls) shutdown_all();
    }
    polls[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    polls[1] = (struct pollfd){.fd = signal_fd, .events = POLLIN};
    size_t watched = job_count;
    for (size_t i = 0; i < watched; i++) polls[i + 2] = (struct pollfd){.fd = jobs[i].stderr_fd, .events = POLLIN};
    int found = poll(polls, watched + 2, 5000);
    if (found < 0 && errno != EINTR) shutdown_all();
    /* Whatever woke it, ended children are collected first. */
    struct signalfd_siginfo info;
    while (read(signal_fd, &info, sizeof info) > 0) {
    }
    reap();
    if (found <= 0) continue;
    if (polls[0].revents) read_requests();
    /* Jobs move in the table as others finish: find each by its descriptor. */
    for (size_t p = 2; p < watched + 2; p++) {
      if (!polls[p].revents || polls[p].fd < 0) continue;
      for (size_t i = 0; i < job_count; i++) {
        if (jobs[i].stderr_fd != polls[p].fd) continue;
        ssize_t n = read(jobs[i].stderr_fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) break;
        if (n <= 0) {
          close(jobs[i].stderr_fd);
          jobs[i].stderr_fd = -1;
          finish(i);
        } else {
          reply("E %s %zd\n", jobs[i].id, n);
          write_all(chunk, (size_t)n);
        }
        break;
      }
    }
  }
}
