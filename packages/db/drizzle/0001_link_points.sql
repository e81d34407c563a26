ALTER TABLE "sweep_jobs" DROP CONSTRAINT "sweep_jobs_sweep_id_job_id_series_pk";--> statement-breakpoint
ALTER TABLE "sweep_jobs" ADD COLUMN "point" text GENERATED ALWAYS AS (labels::text) STORED NOT NULL;--> statement-breakpoint
ALTER TABLE "sweep_jobs" ADD CONSTRAINT "sweep_jobs_sweep_id_job_id_series_point_pk" PRIMARY KEY("sweep_id","job_id","series","point");
