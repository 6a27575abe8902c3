# Data stages: download -> prepare (clean + sentencepiece or GPT-2 BPE) -> binarize; the
# pretrain stage (a masked LM for classification) comes before prepare.


# A leaf of the DAG (rule all asks for its stamp), unlike dvc.yaml's check stage: the Snakefile
# runs the same checks when it parses, before any job, so no job waits for it. As an input of
# the first stages it would rerun on any params.yaml edit and Snakemake would then plan every
# job downstream, never looking at their own params (it masks the descendants of a job it must
# run: a train key edit would rerun the data stages, an eval key edit the trainings).
rule check_params:
    input:
        "params.yaml",
        code=stage_code("check_params"),
    output:
        "build/params.ok",
    log:
        "logs/check_params.log",
    conda:
        ENV
    shell:
        "python workflow/scripts/check_params.py --params params.yaml --out {output} > {log} 2>&1"


rule pretrain:
    input:
        code=stage_code("pretrain"),
    output:
        model=directory(PRETRAINED),
        summary=f"{PRETRAIN_METRICS}/pretrain.json",
        curve=f"{PRETRAIN_METRICS}/train_log.csv",
    log:
        "logs/pretrain.log",
    conda:
        ENV
    params:
        metrics=lambda w: PRETRAIN_METRICS,  # a function: see results.smk
        # the params DVC's stage lists, so that Snakemake reruns it when DVC does; none: a marker
        # folder whatever they are (DVC reruns it to the same bytes, and goes no further)
        settings=stage_params("pretrain", DOC) if PARAMS.pretrain.name != "none" else "none",
    threads: 2
    shell:
        "python workflow/scripts/pretrain.py --params params.yaml --out {output.model}"
        " --metrics {params.metrics} --workers {threads} > {log} 2>&1"


rule download:
    input:
        code=stage_code("download"),
        local=LOCAL_FILES,  # a declared dataset's local files: editing one reruns the download
    output:
        directory(RAW),
    log:
        "logs/download.log",
    conda:
        ENV
    params:
        settings=stage_params("download", DOC),
    shell:
        "python workflow/scripts/download.py --params params.yaml --out {output} > {log} 2>&1"


rule prepare:
    input:
        raw=RAW,
        pretrained=PRETRAINED,
        code=stage_code("prepare"),
    output:
        directory(PREP),
    log:
        "logs/prepare.log",
    conda:
        ENV
    params:
        settings=stage_params("prepare", DOC),
    threads: 2
    shell:
        "python workflow/scripts/prepare.py --params params.yaml --raw {input.raw} --out {output}"
        " --pretrain {input.pretrained}"
        " --workers {threads} > {log} 2>&1"


rule binarize:
    input:
        prep=PREP,
        code=stage_code("binarize"),
    output:
        directory(BIN),
    log:
        "logs/binarize.log",
    conda:
        ENV
    params:
        settings=stage_params("binarize", DOC),
    threads: 2
    shell:
        "python workflow/scripts/binarize.py --params params.yaml --prep {input.prep} --out {output}"
        " --workers {threads} > {log} 2>&1"


rule extra_test:
    input:
        prep=PREP,
        data=BIN,
        code=stage_code("extra_test"),
    output:
        directory(EXTRA),
    log:
        "logs/extra_test.log",
    conda:
        ENV
    params:
        settings=stage_params("extra_test", DOC),
    shell:
        "python workflow/scripts/extra_test.py --params params.yaml --prep {input.prep}"
        " --bin {input.data} --out {output} > {log} 2>&1"
