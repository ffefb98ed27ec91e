"""The paper's ablations on the shapes world (`dpseg ablate NAME`): catalog, jobs, report."""
