import { defineSearchAttributeKey } from '@temporalio/common';

/** Custom search attributes a rollout keeps current, so the Web UI and `list` can filter on them. */
export const RolloutTarget = defineSearchAttributeKey('RolloutTarget', 'KEYWORD');
export const RolloutPhase = defineSearchAttributeKey('RolloutPhase', 'KEYWORD');
export const BlueModel = defineSearchAttributeKey('BlueModel', 'KEYWORD');
export const GreenModel = defineSearchAttributeKey('GreenModel', 'KEYWORD');
export const GreenPercent = defineSearchAttributeKey('GreenPercent', 'INT');

export const ROLLOUT_SEARCH_ATTRIBUTES = [RolloutTarget, RolloutPhase, BlueModel, GreenModel, GreenPercent];
