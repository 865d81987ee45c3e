package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildEmu builds the emu binary into dir: an emitted batch job runs the
// executable that emitted it.
func buildEmu(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build emu with")
	}
	bin := filepath.Join(dir, "emu")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort is a TCP port on the loopback that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// slurmConf is a single-node cluster on the loopback: no munge
// (auth/none, cred/none: slurm.conf(5) AuthType, CredType), no cgroups,
// no accounting; the node claims 12 CPUs (SlurmdParameters=config_overrides)
// so that the array's tasks, each a short emu run, start together.
const slurmConf = `ClusterName=emutest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/slurmctld.log
SlurmdLogFile=%[4]s/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=emu1 NodeHostname=%[1]s NodeAddr=127.0.0.1 CPUs=12 RealMemory=1000 State=UNKNOWN
PartitionName=emu Nodes=emu1 Default=YES MaxTime=INFINITE State=UP
`

// startDaemon starts a Slurm daemon in the foreground (-D) and stops it
// by its PID when the test ends.
func startDaemon(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "SLURM_CONF="+filepath.Join(dir, "slurm.conf"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); log.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

// TestSlurmSweep runs emu sweep -emit slurm for a 2 × 2 × 3 grid on a real
// single-node Slurm cluster and checks that the array's results, merged,
// are byte for byte those of the same sweep run locally with -j 2.
func TestSlurmSweep(t *testing.T) {
	for _, b := range []string{"slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("Slurm is not installed (no %s; apt-get install slurm-wlm)", b)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the single-node Slurm test runs its daemons as root")
	}
	dir := t.TempDir()
	for _, d := range []string{"state", "spool"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	conf := filepath.Join(dir, "slurm.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, slurmConf, host, freePort(t), freePort(t), dir), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildEmu(t, dir)
	env := append(os.Environ(), "SLURM_CONF="+conf)
	sh := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Dir = env, dir
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, o.String(), e.String())
		}
		return o.String()
	}
	logs := func() string {
		var b strings.Builder
		for _, n := range []string{"slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"} {
			data, _ := os.ReadFile(filepath.Join(dir, n))
			if len(data) > 3000 {
				data = data[len(data)-3000:]
			}
			fmt.Fprintf(&b, "--- %s\n%s", n, data)
		}
		return b.String()
	}
	startDaemon(t, dir, "slurmctld", "-D", "-f", conf)
	startDaemon(t, dir, "slurmd", "-D", "-f", conf, "-N", "emu1")
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command("sinfo", "-h", "-o", "%t")
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		if strings.TrimSpace(string(out)) == "idle" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not come up (sinfo: %q)\n%s", out, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	grid := []string{"-cpus", "2,3", "-kernel", "5.10,5.10-stable", "-seeds", "1-3", "--", "-pages", "64", "-iterations", "2"}
	out := filepath.Join(dir, "slurm-results")
	script := filepath.Join(dir, "job.sh")
	sh(bin, append([]string{"sweep", "-emit", "slurm", "-dir", out, "-o", script}, grid...)...)
	jobID, _, _ := strings.Cut(strings.TrimSpace(sh("sbatch", "--parsable", "--chdir", dir, script)), ";")
	deadline = time.Now().Add(5 * time.Minute)
	for strings.TrimSpace(sh("squeue", "-h", "-j", jobID)) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("job array %s did not finish in 5 minutes\n%s", jobID, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	states := sh("scontrol", "-o", "show", "job", jobID)
	if n := strings.Count(states, "JobState=COMPLETED"); n != 12 {
		t.Fatalf("%d of 12 array tasks completed:\n%s\n%s", n, states, logs())
	}

	local := filepath.Join(dir, "local-results")
	sh(bin, append([]string{"sweep", "-q", "-j", "2", "-dir", local}, grid...)...)
	a, b := dirFiles(t, out), dirFiles(t, local)
	if len(a) != 12 || !mapsEqual(a, b) {
		t.Errorf("the array's %d results differ from the local sweep's %d", len(a), len(b))
	}
	m1, m2 := filepath.Join(dir, "merged-slurm"), filepath.Join(dir, "merged-local")
	sh(bin, "merge", "-o", m1, out)
	sh(bin, "merge", "-o", m2, local)
	ma, mb := dirFiles(t, m1), dirFiles(t, m2)
	if len(ma) != 4 || !mapsEqual(ma, mb) {
		t.Errorf("merged: %d results from Slurm, %d local, not byte for byte equal", len(ma), len(mb))
	}
	for n, data := range ma {
		if !bytes.Contains(data, []byte(`"runs": 3,`)) {
			t.Errorf("%s is not a runs=3 result", n)
		}
	}
	r1, r2 := sh(bin, "report", out), sh(bin, "report", local)
	if r1 != r2 || strings.Count(r1, "verdict: emu_stale_tlb_writes") != 2 || !strings.Contains(r1, "the hole closes") {
		t.Errorf("reports differ or lack the verdicts:\n%s\n---\n%s", r1, r2)
	}
}
