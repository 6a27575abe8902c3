# Training and evaluation: one job per variant x seed. Threads, runtime, memory and GPUs
# come from the profile (local/ or slurm/config.yaml), not from params.yaml.


rule train:
    input:
        data=BIN,
        pretrained=PRETRAINED,  # train.restore_file: pretrain
        code=stage_code("train"),
    output:
        model=f"{RUNS}/{{variant}}/seed{{seed}}/model.pt",
        summary=f"{METRICS}/{{variant}}/seed{{seed}}/train.json",
        curve=f"{METRICS}/{{variant}}/seed{{seed}}/train_log.csv",
    log:
        f"logs/{EXP}/train/{{variant}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        run=lambda w: f"{RUNS}/{w.variant}/seed{w.seed}",
        metrics=lambda w: f"{METRICS}/{w.variant}/seed{w.seed}",
        settings=lambda w: stage_params("train", DOC, w),  # as DVC's stage: its params
    threads: 2
    shell:
        "python workflow/scripts/train.py --params params.yaml --variant {wildcards.variant}"
        " --seed {wildcards.seed} --data {input.data} --out {params.run}"
        " --metrics {params.metrics} > {log} 2>&1"


rule evaluate:
    input:
        model=f"{RUNS}/{{variant}}/seed{{seed}}/model.pt",
        data=BIN,
        prep=PREP,
        extra=EXTRA,
        code=stage_code("evaluate"),
    output:
        outputs=directory(f"{METRICS}/{{variant}}/seed{{seed}}/outputs"),
        scores=f"{METRICS}/{{variant}}/seed{{seed}}/eval.json",
    log:
        f"logs/{EXP}/evaluate/{{variant}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        metrics=lambda w: f"{METRICS}/{w.variant}/seed{w.seed}",
        settings=lambda w: stage_params("evaluate", DOC, w),
    threads: 2
    shell:
        "python workflow/scripts/evaluate.py --params params.yaml --variant {wildcards.variant}"
        " --seed {wildcards.seed} --model {input.model} --data {input.data} --prep {input.prep}"
        " --extra {input.extra} --metrics {params.metrics} > {log} 2>&1"
