# Training and evaluation: one job per variant x seed. Threads, runtime, memory and GPUs
# come from the profile (local/ or slurm/config.yaml), not from params.yaml.


rule train:
    input:
        BIN,
        "workflow/scripts/train.py",
    output:
        model="runs/{variant}/seed{seed}/model.pt",
        summary="metrics/{variant}/seed{seed}/train.json",
        curve="metrics/{variant}/seed{seed}/train_log.csv",
    log:
        "logs/train/{variant}_seed{seed}.log",
    threads: 2
    shell:
        "python workflow/scripts/train.py --params params.yaml --variant {wildcards.variant}"
        " --seed {wildcards.seed} --data {input[0]} --out runs/{wildcards.variant}/seed{wildcards.seed}"
        " --metrics metrics/{wildcards.variant}/seed{wildcards.seed} > {log} 2>&1"


rule evaluate:
    input:
        model="runs/{variant}/seed{seed}/model.pt",
        data=BIN,
        prep=PREP,
        script="workflow/scripts/evaluate.py",
    output:
        hyps="metrics/{variant}/seed{seed}/hyps.test.txt",
        scores="metrics/{variant}/seed{seed}/eval.json",
    log:
        "logs/evaluate/{variant}_seed{seed}.log",
    threads: 2
    shell:
        "python workflow/scripts/evaluate.py --params params.yaml --variant {wildcards.variant}"
        " --seed {wildcards.seed} --model {input.model} --data {input.data} --prep {input.prep}"
        " --metrics metrics/{wildcards.variant}/seed{wildcards.seed} > {log} 2>&1"
