/*
 * kind_batch — Jobs and CronJobs: counts, completion and failure, schedules, as
 * kube-state-metrics v2.15 reports them (internal/store/job.go, cronjob.go). Objects
 * are struct km_kobj; the index of each number and string is named below.
 */
#include "common/err.h"
#include "kinds.h"

#include <string.h>

/* ---- Jobs ------------------------------------------------------------------------------ */

enum { J_PAR, J_COMP, J_ACTIVE, J_SUCC, J_FAILED, J_START, J_DONE };

static int64_t int_or_absent(const json_t *o, const char *key)
{
    return km_kjson_int(o, key, KM_KABSENT);
}

static int job_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    o->v[J_PAR] = int_or_absent(spec, "parallelism");
    o->v[J_COMP] = int_or_absent(spec, "completions");
    o->v[J_ACTIVE] = km_kjson_int(st, "active", 0);
    o->v[J_SUCC] = km_kjson_int(st, "succeeded", 0);
    o->v[J_FAILED] = km_kjson_int(st, "failed", 0);
    o->v[J_START] = km_kjson_time(st, "startTime");
    o->v[J_DONE] = km_kjson_time(st, "completionTime");
    if (km_kconds_parse(p, st, &o->conds, &o->nconds) ||
        km_kowners_parse(p, json_object_get(json, "metadata"), &o->owners, &o->nowners)) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum {
    JF_INFO,
    JF_CREATED,
    JF_OWNER,
    JF_LABELS,
    JF_ANNOTS,
    JF_PAR,
    JF_COMP,
    JF_ACTIVE,
    JF_SUCC,
    JF_FAILED,
    JF_COMPLETE,
    JF_FAILED_COND,
    JF_START,
    JF_DONE,
};

#define G KM_MT_GAUGE
static const struct km_kfam job_fams[] = {
    { "kube_job_info", "Information about job.", G },
    { "kube_job_created", "Unix creation timestamp", G },
    { "kube_job_owner", "Information about the Job's owner.", G },
    { "kube_job_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_job_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_job_spec_parallelism",
      "The maximum desired number of pods the job should run at "
      "any given time.",
      G },
    { "kube_job_spec_completions",
      "The desired number of successfully finished pods the job "
      "should be run with.",
      G },
    { "kube_job_status_active", "The number of actively running pods.", G },
    { "kube_job_status_succeeded", "The number of pods which reached Phase Succeeded.", G },
    { "kube_job_status_failed",
      "The number of pods which reached Phase Failed and the reason "
      "for failure.",
      G },
    { "kube_job_complete", "The job has completed its execution.", G },
    { "kube_job_failed", "The job has failed its execution.", G },
    { "kube_job_status_start_time",
      "StartTime represents time when the job was acknowledged by "
      "the Job Manager.",
      G },
    { "kube_job_status_completion_time",
      "CompletionTime represents time when the job was "
      "completed.",
      G },
};

/* kube_job_status_failed: 0 without failures; with a Failed condition a series per known
 * reason (1 on its reason); else the count without a reason. */
static void emit_failed(struct km_kemit *e, const struct km_kobj *o)
{
    static const char *const reasons[] = { "BackoffLimitExceeded", "DeadlineExceeded", "Evicted" };
    bool known = false;

    if (o->v[J_FAILED] == 0) {
        km_kemit_add(e, JF_FAILED, NULL, 0, 0);
        return;
    }
    for (uint16_t i = 0; i < o->nconds; i++) {
        if (strcmp(o->conds[i].type, "Failed") != 0)
            continue;
        for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++) {
            bool hit = o->conds[i].reason && strcmp(o->conds[i].reason, reasons[r]) == 0;

            known = known || hit;
            km_kemit_add1(e, JF_FAILED, "reason", reasons[r], hit);
        }
    }
    if (!known)
        km_kemit_add(e, JF_FAILED, NULL, 0, (double)o->v[J_FAILED]);
}

static void job_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "job_name", o->m.name } };

    km_kemit_base(e, base, 2);
    km_kemit_add(e, JF_INFO, NULL, 0, 1);
    if (o->m.created_s)
        km_kemit_add(e, JF_CREATED, NULL, 0, (double)o->m.created_s);
    km_kemit_owners(e, JF_OWNER, o->owners, o->nowners);
    km_kemit_kv(e, JF_LABELS, o->m.labels, o->m.nlabels, e->labels_on);
    km_kemit_kv(e, JF_ANNOTS, o->m.annots, o->m.nannots, e->annots_on);
    if (o->v[J_PAR] != KM_KABSENT)
        km_kemit_add(e, JF_PAR, NULL, 0, (double)o->v[J_PAR]);
    if (o->v[J_COMP] != KM_KABSENT)
        km_kemit_add(e, JF_COMP, NULL, 0, (double)o->v[J_COMP]);
    km_kemit_add(e, JF_ACTIVE, NULL, 0, (double)o->v[J_ACTIVE]);
    km_kemit_add(e, JF_SUCC, NULL, 0, (double)o->v[J_SUCC]);
    emit_failed(e, o);
    for (uint16_t i = 0; i < o->nconds; i++) {
        if (strcmp(o->conds[i].type, "Complete") == 0)
            km_kemit_tristate(e, JF_COMPLETE, NULL, 0, "condition", o->conds[i].status);
        else if (strcmp(o->conds[i].type, "Failed") == 0)
            km_kemit_tristate(e, JF_FAILED_COND, NULL, 0, "condition", o->conds[i].status);
    }
    if (o->v[J_START])
        km_kemit_add(e, JF_START, NULL, 0, (double)o->v[J_START]);
    if (o->v[J_DONE])
        km_kemit_add(e, JF_DONE, NULL, 0, (double)o->v[J_DONE]);
}

const struct km_kind km_kind_jobs = {
    .name = "jobs",
    .group = "batch",
    .path = "/apis/batch/v1/jobs",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = job_parse,
    .fini = km_kobj_fini,
    .fams = job_fams,
    .nfams = sizeof(job_fams) / sizeof(job_fams[0]),
    .emit = job_emit,
};

/* ---- CronJobs -------------------------------------------------------------------------- */

enum { C_SUSPEND, C_ACTIVE, C_LAST };
enum { C_SCHEDULE, C_POLICY, C_TZ };

static int cj_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    o->v[C_SUSPEND] = json_is_true(json_object_get(spec, "suspend"));
    o->v[C_ACTIVE] = (int64_t)json_array_size(json_object_get(st, "active"));
    o->v[C_LAST] = km_kjson_time(st, "lastScheduleTime");
    if (km_kintern(p, &o->s[C_SCHEDULE], spec, "schedule") ||
        km_kintern(p, &o->s[C_POLICY], spec, "concurrencyPolicy") ||
        km_kintern(p, &o->s[C_TZ], spec, "timeZone")) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { CF_INFO, CF_CREATED, CF_LABELS, CF_ANNOTS, CF_SUSPEND, CF_ACTIVE, CF_LAST };

static const struct km_kfam cj_fams[] = {
    { "kube_cronjob_info", "Info about cronjob.", G },
    { "kube_cronjob_created", "Unix creation timestamp", G },
    { "kube_cronjob_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_cronjob_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_cronjob_spec_suspend",
      "Suspend flag tells the controller to suspend subsequent "
      "executions.",
      G },
    { "kube_cronjob_status_active", "Active holds pointers to currently running jobs.", G },
    { "kube_cronjob_status_last_schedule_time",
      "LastScheduleTime keeps information of when "
      "was the last time the job was successfully "
      "scheduled.",
      G },
};
#undef G

static void cj_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "cronjob", o->m.name } };
    struct km_label l[3] = { { "schedule", km_kemit_str(o->s[C_SCHEDULE]) },
                             { "concurrency_policy", km_kemit_str(o->s[C_POLICY]) },
                             { "timezone", km_kemit_str(o->s[C_TZ]) } };

    km_kemit_base(e, base, 2);
    km_kemit_add(e, CF_INFO, l, 3, 1);
    km_kemit_meta(e, CF_CREATED, CF_LABELS, CF_ANNOTS, &o->m);
    km_kemit_add(e, CF_SUSPEND, NULL, 0, (double)o->v[C_SUSPEND]);
    km_kemit_add(e, CF_ACTIVE, NULL, 0, (double)o->v[C_ACTIVE]);
    if (o->v[C_LAST])
        km_kemit_add(e, CF_LAST, NULL, 0, (double)o->v[C_LAST]);
}

const struct km_kind km_kind_cronjobs = {
    .name = "cronjobs",
    .group = "batch",
    .path = "/apis/batch/v1/cronjobs",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = cj_parse,
    .fini = km_kobj_fini,
    .fams = cj_fams,
    .nfams = sizeof(cj_fams) / sizeof(cj_fams[0]),
    .emit = cj_emit,
};
