# Attention plots over the memory and the results tables.


rule attention:
    input:
        model="runs/{variant}/seed{seed}/model.pt",
        data=BIN,
        prep=PREP,
        script="workflow/scripts/attention.py",
    output:
        directory("results/attention/{variant}_seed{seed}"),
    log:
        "logs/attention/{variant}_seed{seed}.log",
    params:
        sentences=config["attention"]["num_sentences"],
    shell:
        "python workflow/scripts/attention.py --checkpoint {input.model} --data {input.data}"
        " --spm {input.prep}/spm.model --sentences {input.prep}"
        " --num-sentences {params.sentences} --name {wildcards.variant}_seed{wildcards.seed}"
        " --out results/attention > {log} 2>&1"


rule tables:
    input:
        expand("metrics/{variant}/seed{seed}/eval.json", variant=VARIANTS, seed=SEEDS),
        expand("metrics/{variant}/seed{seed}/train.json", variant=VARIANTS, seed=SEEDS),
        expand("results/attention/{variant}_seed{seed}", variant=VARIANTS, seed=ATTENTION_SEEDS),
        "workflow/scripts/tables.py",
        "workflow/paper_reference.yaml",
        prep=PREP,
    output:
        "results/mt_results.csv",
        "results/mt_results.md",
        "results/memory_mass.csv",
        "results/memory_mass.md",
        "results/README.md",
    log:
        "logs/tables.log",
    shell:
        "python workflow/scripts/tables.py --params params.yaml --metrics metrics --prep {input.prep}"
        " --attention results/attention --out results > {log} 2>&1"
