#!/usr/bin/perl
# The sandbox launcher: a small long-lived process that starts the sandboxes
# of the server (or worker) that runs it, so that no job pays for a fork of
# that server. A fork copies the parent's page tables, and on a VM with
# paravirtualised page tables that costs milliseconds per 100 MiB of the
# parent, on its event loop; this process is a few MiB. Perl because
# perl-base is Essential on Debian (always installed) and its core has fork,
# exec, setsid, set*id and syscall. sandbox-launcher.c is the same launcher
# in C, run instead when it was built; launcher.ts falls back to spawning
# from Node when neither can start.
#
# For each job it opens the job's output file and a pipe holding the seccomp
# program, then forks a child that, before it executes bwrap: makes its own
# session, enters the job's cgroups (so everything bwrap starts is born
# there), sets the resource limits, puts those on stdout and fd 3, and drops
# to the sandbox's user. The child's stderr is a pipe this process relays to
# the server.
#
# Protocol (stdin and stdout are pipes to the server):
#   request:  "<length>\n" then <length> bytes: fields separated by NUL:
#             "spawn", id, stdout path, seccomp program in hex or "", uid or "",
#             gid or "", cgroup.procs paths joined by ":" or "",
#             rlimits "name=value,..." (data, fsize, nofile, core, nproc),
#             argument count, the arguments, then the environment NAME=VALUE.
#   replies:  "S <id> <pid> <cgroup 1|0>\n" the sandbox started
#             "F <id> <length>\n<message>" it could not start (nothing runs)
#             "E <id> <length>\n<bytes>" a piece of its stderr
#             "X <id> <exit code or -1> <signal number>\n" it ended and its
#             stderr is closed: the last reply for that id
# On EOF of stdin (the server is gone) every sandbox's process group is
# killed and the launcher exits.
use strict;
use warnings;
use POSIX qw(:sys_wait_h setsid _exit dup2 EINTR);
use Fcntl qw(F_SETFD F_GETFL F_SETFL FD_CLOEXEC O_NONBLOCK O_WRONLY O_CREAT O_TRUNC O_RDONLY);

my %RLIMIT = (fsize => 1, data => 2, core => 4, nproc => 6, nofile => 7);
# The system calls Perl's core has no function for, by architecture;
# unknown architectures are refused at start.
my %SYSCALLS = (
    'x86_64' => { prlimit64 => 302, prctl => 157, execve => 59, setgroups => 116 },
    'aarch64' => { prlimit64 => 261, prctl => 167, execve => 221, setgroups => 159 },
);
my $arch = (POSIX::uname())[4];
my $sys = $SYSCALLS{$arch} or do { print STDERR "sandbox-launcher: no syscall table for $arch\n"; exit 2 };

# Die with the server even when it is killed before it can close our stdin.
syscall($sys->{prctl}, 1, 9, 0, 0, 0);    # PR_SET_PDEATHSIG, SIGKILL

# Descriptors the server inherited without close-on-exec (from whoever
# started it) would reach every sandbox: none is kept past 0-2.
if (opendir(my $fds, '/proc/self/fd')) {
    my @open = grep { /^\d+$/ && $_ > 2 && $_ != fileno($fds) } readdir $fds;
    closedir $fds;
    POSIX::close($_) for @open;
}

$| = 1;
binmode STDIN;
binmode STDOUT;

my %jobs;        # id => { pid, fh (stderr read end), exited, status }
my %by_pid;      # pid => id
my $inbuf = '';
# SIGCHLD wakes the select below through a pipe of its own: a flag alone
# misses a child that ends between the check and the select, which would
# then hold that job's end back for the select's whole timeout.
pipe(my $sigchld_r, my $sigchld_w) or die "pipe: $!\n";
for my $fh ($sigchld_r, $sigchld_w) {
    my $flags = fcntl($fh, F_GETFL, 0);
    fcntl($fh, F_SETFL, $flags | O_NONBLOCK);
}
$SIG{CHLD} = sub { syswrite($sigchld_w, 'c') };
# Caught, not ignored: execve resets a caught signal to its default, while
# an ignored one would stay ignored in every sandbox.
$SIG{PIPE} = sub { };
# Every sandbox's stdin, opened once (close-on-exec; dup2 onto 0 clears it).
# Perl marks every descriptor it opens above $^F (2) close-on-exec.
sysopen(my $null, '/dev/null', O_RDONLY) or do { print STDERR "sandbox-launcher: /dev/null: $!\n"; exit 2 };
my $null_fd = fileno($null);

sub reply { my ($text) = @_; syswrite_all(\*STDOUT, $text) }

sub syswrite_all {
    my ($fh, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($fh, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR;
            # The server is gone: nothing left to report to.
            shutdown_all();
        }
        $off += $n;
    }
}

sub shutdown_all {
    for my $job (values %jobs) { kill 'KILL', -$job->{pid} if $job->{pid} }
    _exit(0);
}

# In the child, between fork and exec: only what must happen in the
# sandbox's own process, as system calls on what the parent prepared. Every
# page this child writes costs a copy-on-write fault (a page-table update
# through the hypervisor on a VM), so it builds nothing: no hash, no %ENV,
# no PerlIO handle. Reports on $status (close-on-exec: EOF there means bwrap
# is running) and never returns.
sub start_child {
    my ($req, $status) = @_;
    my $error = child_steps($req, $status);
    syswrite($status, "error $error\n");
    _exit(127);
}

# Returns only on failure, with what failed.
sub child_steps {
    my ($req, $status) = @_;
    setsid() or return "setsid: $!";
    my $entered = 1;
    for my $procs (@{ $req->{procs} }) {
        my $fd = POSIX::open($procs, O_WRONLY);
        if (!defined $fd) { $entered = 0; next }
        $entered = 0 unless POSIX::write($fd, $req->{pid_line}, length $req->{pid_line});
        $entered = 0 unless POSIX::close($fd);
    }
    syswrite($status, $entered && @{ $req->{procs} } ? "cgroup 1\n" : "cgroup 0\n");
    for my $limit (@{ $req->{limits} }) {
        syscall($sys->{prlimit64}, 0, $limit->[0], $limit->[1], 0) == 0 or return "setrlimit $limit->[2]: $!";
    }
    dup2($null_fd, 0) // return "dup2 stdin: $!";
    dup2($req->{stdout_fd}, 1) // return "dup2 stdout: $!";
    dup2($req->{stderr_fd}, 2) // return "dup2 stderr: $!";
    if (ref $req->{seccomp}) {
        # dup2 onto itself would keep close-on-exec: then clear it by hand.
        if (fileno($req->{seccomp}) == 3) { fcntl($req->{seccomp}, F_SETFD, 0) or return "fcntl seccomp: $!" }
        else { dup2(fileno($req->{seccomp}), 3) // return "dup2 seccomp: $!" }
    }
    if (defined $req->{gid}) {
        # One supplementary group, the sandbox's own; then real, effective
        # and saved ids, group first (after setuid there is no right left).
        syscall($sys->{setgroups}, 1, $req->{groups}) == 0 or return "setgroups: $!";
        POSIX::setgid($req->{gid}) or return "setgid: $!";
    }
    if (defined $req->{uid}) {
        POSIX::setuid($req->{uid}) or return "setuid: $!";
        return 'still privileged' if $< != $req->{uid} || $> != $req->{uid};
    }
    # The caught signals (CHLD, PIPE) are reset by execve itself: the
    # launcher catches them rather than ignoring them for that reason.
    syscall($sys->{execve}, $req->{path}, $req->{argv_p}, $req->{env_p});
    return "exec $req->{path}: $!";
}

# Whatever the child needs, made before the fork so that it is shared and
# the child only reads it: open files, the seccomp pipe, packed limits and
# the argument and environment vectors execve takes.
sub prepare {
    my ($req) = @_;
    sysopen(my $out, $req->{stdout}, O_WRONLY | O_CREAT | O_TRUNC, 0600) or return "$req->{stdout}: $!";
    push @{ $req->{handles} }, $out;
    $req->{stdout_fd} = fileno($out);
    if ($req->{seccomp} ne '') {
        # bwrap reads the program from fd 3 until EOF: a pipe holding it all
        # (a few KiB, far below the pipe's buffer) and closed.
        my $program = pack('H*', $req->{seccomp});
        pipe(my $prog, my $prog_w) or return "pipe: $!";
        push @{ $req->{handles} }, $prog;
        my $written = syswrite($prog_w, $program);
        close $prog_w;
        return "seccomp program: $!" unless defined $written && $written == length $program;
        $req->{seccomp} = $prog;
    }
    for my $pair (split /,/, $req->{rlimits}) {
        my ($name, $value) = split /=/, $pair;
        defined $RLIMIT{$name} or return "unknown resource limit $name";
        push @{ $req->{limits} }, [ $RLIMIT{$name}, pack('QQ', $value, $value), $name ];
    }
    $req->{groups} = pack('L', $req->{gid}) if defined $req->{gid};
    $req->{path} = resolve($req->{argv}[0], $req->{env}) // return "exec $req->{argv}[0]: No such file or directory";
    # A NULL-terminated array of pointers to the strings, which stay alive in
    # $req (and so in the child's copy) until the exec.
    $req->{argv_p} = pack('p*', @{ $req->{argv} }, undef);
    $req->{env_p} = pack('p*', @{ $req->{env} }, undef);
    return undef;
}

# execvp's search of PATH (the job's), made in the parent: the child
# executes by path.
sub resolve {
    my ($name, $env) = @_;
    return $name if index($name, '/') >= 0;
    my ($path) = map { substr($_, 5) } grep { /^PATH=/ } @$env;
    for my $dir (split /:/, $path // '/usr/bin:/bin') {
        next if $dir eq '';
        return "$dir/$name" if -f "$dir/$name" && -x _;
    }
    return undef;
}

sub spawn_job {
    my (@fields) = @_;
    my ($op, $id, $stdout, $seccomp, $uid, $gid, $procs, $rlimits, $argc) = splice(@fields, 0, 9);
    my @argv = splice(@fields, 0, $argc);
    my $req = {
        stdout => $stdout, seccomp => $seccomp,
        uid => ($uid eq '' ? undef : $uid), gid => ($gid eq '' ? undef : $gid),
        procs => [ grep { length } split /:/, $procs ], rlimits => $rlimits,
        argv => \@argv, env => \@fields, handles => [], limits => [],
    };
    # The parent's copies of the files prepared are closed when $req goes.
    my $failed = prepare($req);
    return fail($id, $failed) if defined $failed;
    pipe(my $stderr_r, my $stderr_w) or return fail($id, "pipe: $!");
    pipe(my $status_r, my $status_w) or return fail($id, "pipe: $!");
    for my $fh ($stderr_r, $stderr_w, $status_r, $status_w) {
        fcntl($fh, F_SETFD, FD_CLOEXEC);
    }
    $req->{stderr_fd} = fileno($stderr_w);
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        $req->{pid_line} = "$$\n";
        start_child($req, $status_w);
    }
    close $_ for @{ $req->{handles} };
    close $stderr_w;
    close $status_w;
    if (!defined $pid) { close $stderr_r; close $status_r; return fail($id, "fork: $!") }
    my $report = '';
    while (1) {
        my $n = sysread($status_r, my $chunk, 4096);
        if (!defined $n) { next if $! == EINTR; last }
        last if $n == 0;
        $report .= $chunk;
    }
    close $status_r;
    if ($report =~ /^error (.*)/ms) {
        my $message = $1;
        waitpid($pid, 0);
        close $stderr_r;
        return fail($id, $message);
    }
    my $cgroup = $report =~ /^cgroup 1/ ? 1 : 0;
    $jobs{$id} = { pid => $pid, fh => $stderr_r, exited => 0, status => 0 };
    $by_pid{$pid} = $id;
    reply("S $id $pid $cgroup\n");
}

sub fail {
    my ($id, $message) = @_;
    $message =~ s/\s+$//;
    reply("F $id " . length($message) . "\n$message");
}

sub reap {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        my $id = delete $by_pid{$pid};
        next unless defined $id && $jobs{$id};
        $jobs{$id}{exited} = 1;
        $jobs{$id}{status} = $?;
        finish($id);
    }
}

# The last reply for a job: once it has exited and its stderr is closed.
sub finish {
    my ($id) = @_;
    my $job = $jobs{$id};
    return unless $job->{exited} && !$job->{fh};
    my $status = $job->{status};
    my ($code, $signal) = ($status & 127) ? (-1, $status & 127) : ($status >> 8, 0);
    delete $jobs{$id};
    reply("X $id $code $signal\n");
}

sub handle_requests {
    while (1) {
        my $nl = index($inbuf, "\n");
        return if $nl < 0;
        my $length = substr($inbuf, 0, $nl);
        return if length($inbuf) < $nl + 1 + $length;
        my $payload = substr($inbuf, $nl + 1, $length);
        substr($inbuf, 0, $nl + 1 + $length) = '';
        my @fields = split /\0/, $payload, -1;
        if ($fields[0] eq 'spawn') { spawn_job(@fields) }
    }
}

reply("ready $$\n");
while (1) {
    my $rin = '';
    vec($rin, fileno(STDIN), 1) = 1;
    vec($rin, fileno($sigchld_r), 1) = 1;
    for my $job (values %jobs) { vec($rin, fileno($job->{fh}), 1) = 1 if $job->{fh} }
    my $nfound = select(my $rout = $rin, undef, undef, 5);
    # Whatever woke it, ended children are collected first.
    1 while sysread($sigchld_r, my $drain, 4096);
    reap();
    next if $nfound <= 0;
    if (vec($rout, fileno(STDIN), 1)) {
        my $n = sysread(STDIN, $inbuf, 65536, length $inbuf);
        if (defined $n && $n == 0) { shutdown_all() }
        handle_requests() if $n;
    }
    for my $id (keys %jobs) {
        my $job = $jobs{$id} or next;
        next unless $job->{fh} && vec($rout, fileno($job->{fh}), 1);
        my $n = sysread($job->{fh}, my $chunk, 65536);
        next if !defined $n && $! == EINTR;
        if (!$n) {
            close $job->{fh};
            $job->{fh} = undef;
            finish($id);
            next;
        }
        reply("E $id " . length($chunk) . "\n$chunk");
    }
}
