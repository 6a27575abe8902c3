# Attention plots over the memory and the results tables. A folder passed to a script is the
# experiment's own (RESULTS, METRICS), given as a function: snakemake --lint flags a fixed
# string that prefixes an output path.


rule attention:
    input:
        model=f"{RUNS}/{{variant}}/seed{{seed}}/model.pt",
        data=BIN,
        prep=PREP,
        code=stage_code("attention"),
    output:
        directory(f"{RESULTS}/attention/{{variant}}_seed{{seed}}"),
    log:
        f"logs/{EXP}/attention/{{variant}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        sentences=config["attention"]["num_sentences"],
        out=lambda w: f"{RESULTS}/attention",
        settings=stage_params("attention", DOC),  # as DVC's stage: its params
    shell:
        "python workflow/scripts/attention.py --checkpoint {input.model} --data {input.data}"
        " --sentences {input.prep} --num-sentences {params.sentences}"
        " --name {wildcards.variant}_seed{wildcards.seed} --out {params.out} > {log} 2>&1"


rule tables:
    input:
        expand(f"{METRICS}/{{variant}}/seed{{seed}}/eval.json", variant=VARIANTS, seed=SEEDS),
        expand(f"{METRICS}/{{variant}}/seed{{seed}}/train.json", variant=VARIANTS, seed=SEEDS),
        expand(
            f"{RESULTS}/attention/{{variant}}_seed{{seed}}", variant=VARIANTS, seed=ATTENTION_SEEDS
        ),
        "workflow/paper_reference.yaml",
        prep=PREP,
        extra=EXTRA,
        code=stage_code("tables"),
    # update(): Snakemake neither deletes the tables before the job nor keeps a failed job's
    # files: it restores the previous ones (as dvc.yaml's persist: true); the script replaces
    # them only once it has written them all
    output:
        [update(path) for path in TABLES],
    log:
        f"logs/{EXP}/tables.log",
    conda:
        ENV
    params:
        metrics=lambda w: METRICS,
        results=lambda w: RESULTS,
        settings=stage_params("tables", DOC),
    shell:
        "python workflow/scripts/tables.py --params params.yaml --metrics {params.metrics}"
        " --prep {input.prep} --extra {input.extra} --attention {params.results}/attention"
        " --out {params.results}"
        " > {log} 2>&1"


rule figures:
    input:
        f"{RESULTS}/results.csv",
        f"{RESULTS}/claims.csv",
        f"{RESULTS}/memory_mass.csv",
        expand(f"{METRICS}/{{variant}}/seed{{seed}}/train.json", variant=VARIANTS, seed=SEEDS),
        code=stage_code("figures"),
    output:  # update(): a failed job's previous figures and page restored, as the tables'
        figures=update(
            report(
                directory(FIGURES),
                patterns=["{name}.png"],
                caption="../report/figures.rst",
                category="Figures",
            )
        ),
        page=update(f"{RESULTS}/report.html"),
    log:
        f"logs/{EXP}/figures.log",
    conda:
        ENV
    params:
        results=lambda w: RESULTS,
        metrics=lambda w: METRICS,
        settings=stage_params("figures", DOC),
    shell:
        "python workflow/scripts/figures.py --params params.yaml --results {params.results}"
        " --metrics {params.metrics} --out {output.figures} > {log} 2>&1"

