package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tlbemu/emu/internal/sweep"
)

// k8sResultsDir is where an emitted Indexed Job mounts its results volume.
const k8sResultsDir = "/results"

// emitJob writes the batch job of -emit for the grid: every task runs
// `emu sweep -dir DIR GRID-FLAGS` and so, by its index ($SLURM_ARRAY_TASK_ID
// or $JOB_COMPLETION_INDEX), point i of the same list that -list prints.
func emitJob(o *sweepOptions, g sweep.Grid, points []sweep.Point, stdout io.Writer) error {
	flags := gridFlags(g)
	switch o.emit {
	case "slurm":
		dir, err := absDir(o.dir)
		if err != nil {
			return usagef("-dir %s: %v", o.dir, err)
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("-emit slurm: the emu executable: %w", err)
		}
		return emit(o.out, stdout, stdout, func(w io.Writer) error { return writeSlurm(w, exe, dir, o.jobs, flags, len(points)) })
	case "k8s":
		return emit(o.out, stdout, stdout, func(w io.Writer) error {
			return writeK8s(w, o.image, o.pvc, o.jobs, flags, len(points))
		})
	}
	return usagef("emu sweep: unknown -emit %q (valid: slurm, k8s)", o.emit)
}

// writeSlurm writes an sbatch job-array script (sbatch(1) --array): task
// i of 0..n-1 runs point i; -j N limits the tasks running at once (%N).
func writeSlurm(w io.Writer, exe, dir string, jobs int, flags []string, n int) error {
	array := fmt.Sprintf("0-%d", n-1)
	if jobs > 0 {
		array += fmt.Sprintf("%%%d", jobs)
	}
	cmd := append([]string{exe, "sweep", "-q", "-dir", dir}, flags...)
	_, err := fmt.Fprintf(w, `#!/bin/sh
# emu sweep as a Slurm job array: %d points, array task i runs point i
# (emu sweep -list names them) and writes its JSON result to the directory
# below; a task whose result is there already exits at once. Submit with
# sbatch FILE; when the array is done: emu merge -o MERGED DIR; emu report DIR.
#SBATCH --job-name=emu-sweep
#SBATCH --array=%s
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
exec %s
`, n, array, shellJoin(cmd))
	return err
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shQuote(a)
	}
	return strings.Join(q, " ")
}

// shQuote quotes s for a POSIX shell when it needs quoting.
func shQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./,:+@%", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// The Kubernetes batch/v1 Job of -emit k8s, as the fields are named in
// k8s.io/api batch/v1 types.go (JobSpec: completions, parallelism,
// completionMode) and core/v1 types.go (PodSpec, Container, Volume).
type k8sJob struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   k8sMeta    `yaml:"metadata"`
	Spec       k8sJobSpec `yaml:"spec"`
}

type k8sMeta struct {
	Name string `yaml:"name"`
}

type k8sJobSpec struct {
	CompletionMode string         `yaml:"completionMode"`
	Completions    int            `yaml:"completions"`
	Parallelism    int            `yaml:"parallelism"`
	Template       k8sPodTemplate `yaml:"template"`
}

type k8sPodTemplate struct {
	Spec k8sPodSpec `yaml:"spec"`
}

type k8sPodSpec struct {
	RestartPolicy string         `yaml:"restartPolicy"`
	Containers    []k8sContainer `yaml:"containers"`
	Volumes       []k8sVolume    `yaml:"volumes"`
}

type k8sContainer struct {
	Name         string           `yaml:"name"`
	Image        string           `yaml:"image"`
	Command      []string         `yaml:"command"`
	VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
}

type k8sVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

type k8sVolume struct {
	Name                  string       `yaml:"name"`
	PersistentVolumeClaim k8sClaimName `yaml:"persistentVolumeClaim"`
}

type k8sClaimName struct {
	ClaimName string `yaml:"claimName"`
}

// writeK8s writes an Indexed Job (completionMode: Indexed): pod i gets
// JOB_COMPLETION_INDEX=i and runs point i; the results volume is the
// claim pvc, mounted at /results. -j N is the parallelism (0: all).
func writeK8s(w io.Writer, image, pvc string, jobs int, flags []string, n int) error {
	par := n
	if jobs > 0 {
		par = min(jobs, n)
	}
	job := k8sJob{APIVersion: "batch/v1", Kind: "Job", Metadata: k8sMeta{Name: "emu-sweep"},
		Spec: k8sJobSpec{CompletionMode: "Indexed", Completions: n, Parallelism: par,
			Template: k8sPodTemplate{Spec: k8sPodSpec{
				RestartPolicy: "Never",
				Containers: []k8sContainer{{Name: "emu", Image: image,
					Command:      append([]string{"emu", "sweep", "-q", "-dir", k8sResultsDir}, flags...),
					VolumeMounts: []k8sVolumeMount{{Name: "results", MountPath: k8sResultsDir}}}},
				Volumes: []k8sVolume{{Name: "results", PersistentVolumeClaim: k8sClaimName{ClaimName: pvc}}},
			}}}}
	fmt.Fprintf(w, "# emu sweep as a Kubernetes Indexed Job: %d points, pod i runs point i\n", n)
	fmt.Fprintf(w, "# (emu sweep -list names them) into the claim %s. Apply with kubectl apply -f FILE.\n", pvc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(job); err != nil {
		return err
	}
	return enc.Close()
}
