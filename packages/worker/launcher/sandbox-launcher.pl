#!/usr/bin/perl
# The sandbox launcher: a small long-lived process that starts the sandboxes
# of the server (or worker) that runs it, so that no job pays for a fork of
# that server. A fork copies the parent's page tables, and on a VM with
# paravirtualised page tables that costs milliseconds per 100 MiB of the
# parent, on its event loop; this process is a few MiB. Perl because
# perl-base is Essential on Debian (always installed) and its core has fork,
# exec, setsid, set*id and syscall; launcher.ts falls back to spawning from
# Node when it cannot start this.
#
# For each job it forks a child that, before it executes bwrap: makes its
# own session, enters the job's cgroups (so everything bwrap starts is born
# there), sets the resource limits, opens stdout on the job's output file
# and fd 3 on a pipe holding the seccomp program, and drops to the sandbox's
# user. The
# child's stderr is a pipe this process relays to the server.
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
use Fcntl qw(F_GETFD F_SETFD F_GETFL F_SETFL FD_CLOEXEC O_NONBLOCK O_WRONLY O_CREAT O_TRUNC O_RDONLY);

my %RLIMIT = (fsize => 1, data => 2, core => 4, nproc => 6, nofile => 7);
# prlimit64 and prctl by architecture; unknown ones are refused at start.
my %SYSCALLS = (
    'x86_64' => { prlimit64 => 302, prctl => 157 },
    'aarch64' => { prlimit64 => 261, prctl => 167 },
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
$SIG{PIPE} = 'IGNORE';

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

sub set_limit {
    my ($name, $value) = @_;
    my $packed = pack('QQ', $value, $value);
    syscall($sys->{prlimit64}, 0, $RLIMIT{$name}, $packed, 0) == 0 or die "setrlimit $name: $!\n";
}

# In the child, between fork and exec: everything that must hold before the
# sandbox's first instruction. Reports on $status (close-on-exec: EOF there
# means bwrap is running) and never returns.
sub start_child {
    my ($req, $status, $stderr_w) = @_;
    eval {
        setsid() or die "setsid: $!\n";
        my $entered = 1;
        for my $procs (@{ $req->{procs} }) {
            if (open(my $fh, '>', $procs)) {
                $entered = 0 unless print {$fh} "$$\n";
                $entered = 0 unless close $fh;
            } else {
                $entered = 0;
            }
        }
        syswrite($status, "cgroup " . ($entered && @{ $req->{procs} } ? 1 : 0) . "\n");
        for my $pair (split /,/, $req->{rlimits}) {
            my ($name, $value) = split /=/, $pair;
            set_limit($name, $value);
        }
        sysopen(my $null, '/dev/null', O_RDONLY) or die "/dev/null: $!\n";
        sysopen(my $out, $req->{stdout}, O_WRONLY | O_CREAT | O_TRUNC, 0600) or die "$req->{stdout}: $!\n";
        dup2(fileno($null), 0) // die "dup2 stdin: $!\n";
        dup2(fileno($out), 1) // die "dup2 stdout: $!\n";
        dup2(fileno($stderr_w), 2) // die "dup2 stderr: $!\n";
        if ($req->{seccomp} ne '') {
            # bwrap reads the program from fd 3 until EOF: a pipe holding it
            # all (a few KiB, far below the pipe's buffer) and closed.
            my $program = pack('H*', $req->{seccomp});
            pipe(my $prog, my $prog_w) or die "pipe: $!\n";
            syswrite($prog_w, $program) == length($program) or die "seccomp program: $!\n";
            close $prog_w;
            # dup2 onto itself would keep close-on-exec: then clear it by hand.
            if (fileno($prog) == 3) { fcntl($prog, F_SETFD, 0) or die "fcntl seccomp: $!\n" }
            else { dup2(fileno($prog), 3) // die "dup2 seccomp: $!\n" }
        }
        if ($req->{gid} ne '') {
            # One supplementary group, the sandbox's own; then real, effective
            # and saved ids, group first (after setuid there is no right left).
            $) = "$req->{gid} $req->{gid}";
            POSIX::setgid($req->{gid}) or die "setgid: $!\n";
        }
        if ($req->{uid} ne '') {
            POSIX::setuid($req->{uid}) or die "setuid: $!\n";
            die "still privileged\n" if $< != $req->{uid} || $> != $req->{uid};
        }
        %ENV = %{ $req->{env} };
        $SIG{PIPE} = 'DEFAULT';
        $SIG{CHLD} = 'DEFAULT';
        exec { $req->{argv}[0] } @{ $req->{argv} } or die "exec $req->{argv}[0]: $!\n";
    };
    my $message = $@ || "unknown failure\n";
    syswrite($status, "error $message");
    _exit(127);
}

sub spawn_job {
    my (@fields) = @_;
    my ($op, $id, $stdout, $seccomp, $uid, $gid, $procs, $rlimits, $argc) = splice(@fields, 0, 9);
    my @argv = splice(@fields, 0, $argc);
    my %env = map { split /=/, $_, 2 } @fields;
    my $req = {
        stdout => $stdout, seccomp => $seccomp, uid => $uid, gid => $gid,
        procs => [ grep { length } split /:/, $procs ], rlimits => $rlimits,
        argv => \@argv, env => \%env,
    };
    pipe(my $stderr_r, my $stderr_w) or return fail($id, "pipe: $!");
    pipe(my $status_r, my $status_w) or return fail($id, "pipe: $!");
    for my $fh ($stderr_r, $status_r, $status_w) {
        fcntl($fh, F_SETFD, FD_CLOEXEC);
    }
    my $pid = fork;
    if (!defined $pid) { return fail($id, "fork: $!") }
    if ($pid == 0) {
        close $stderr_r;
        close $status_r;
        start_child($req, $status_w, $stderr_w);
    }
    close $stderr_w;
    close $status_w;
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
