/**
 * Churn alerts: raised when an analysis puts a ticket above the churn threshold and the ticket was not
 * already flagged (one alert per ticket crossing the line, not one per message). Always one JSON log line
 * `{"event": "churn_alert", ...}` (the infra's metric filter and alarm count them); also an SNS message when
 * ALERTS_TOPIC_ARN is set. A publishing failure is logged, never retried by re-running the analysis.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { LOG_EVENTS } from '../contract.js';
import type { Logger } from '../logger.js';
import type { Analytics, Channel } from '../tickets/model.js';

export interface ChurnAlert {
  ticket_id: string;
  channel: Channel;
  analytics: Analytics;
}

export class ChurnAlerts {
  constructor(
    private readonly logger: Logger,
    private readonly sns?: { client: SNSClient; topicArn: string },
  ) {}

  async raise({ ticket_id, channel, analytics }: ChurnAlert): Promise<void> {
    this.logger.warn('churn alert: customer about to leave', {
      event: LOG_EVENTS.churnAlert,
      ticket_id,
      channel,
      churn_risk: analytics.churn_risk,
      category: analytics.category,
      urgency: analytics.urgency,
      sentiment: analytics.sentiment,
    });
    if (!this.sns) return;
    try {
      await this.sns.client.send(
        new PublishCommand({
          TopicArn: this.sns.topicArn,
          Subject: `Freeda churn alert: ${ticket_id} (risk ${analytics.churn_risk})`,
          Message: JSON.stringify({ event: LOG_EVENTS.churnAlert, ticket_id, channel, ...analytics }, null, 2),
          MessageAttributes: { event: { DataType: 'String', StringValue: LOG_EVENTS.churnAlert } },
        }),
      );
    } catch (err) {
      this.logger.error('churn alert not published to SNS (the log line stands)', {
        ticket_id,
        err: (err as Error).message,
      });
    }
  }
}
