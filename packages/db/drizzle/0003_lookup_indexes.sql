CREATE INDEX "events_sweep_type_idx" ON "events" USING btree ("sweep_id","type","id");--> statement-breakpoint
CREATE INDEX "sweeps_id_prefix_idx" ON "sweeps" USING btree ("id" text_pattern_ops);