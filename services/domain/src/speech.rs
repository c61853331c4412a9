//! The short Chinese sentences a one-key device speaks, one for each state of an order.

/// The taxi details a sentence may mention.
#[derive(Debug, Clone, Default)]
pub struct TaxiWords {
    /// The licence plate, for example `渝A12345`.
    pub plate: String,
    /// The colour, for example `白色`.
    pub color: String,
    /// Minutes until the taxi arrives, rounded up; `None` if unknown.
    pub eta_minutes: Option<u32>,
}

/// Spells a plate so it is read out clearly: `渝A12345` becomes `渝A·12345`.
pub fn spoken_plate(plate: &str) -> String {
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() > 2 {
        let head: String = chars[..2].iter().collect();
        let tail: String = chars[2..].iter().collect();
        format!("{head}·{tail}")
    } else {
        plate.to_string()
    }
}

fn taxi_phrase(t: &TaxiWords) -> String {
    format!("车牌{} {}出租车", spoken_plate(&t.plate), t.color)
}

/// The sentence for an order in `status` (a stored status code).
pub fn for_status(status: crate::order::OrderStatus, taxi: Option<&TaxiWords>) -> String {
    use crate::order::OrderStatus::*;
    match (status, taxi) {
        (Scheduled, _) => "已为您预约出租车，到时间会为您派车".to_string(),
        (Pending, _) | (Offered, _) => "已为您叫车，正在为您寻找附近的出租车".to_string(),
        (Accepted, Some(t)) => match t.eta_minutes {
            Some(m) => format!("{}正在赶来，约{}分钟到达", taxi_phrase(t), m.max(1)),
            None => format!("{}正在赶来", taxi_phrase(t)),
        },
        (Arrived, Some(t)) => format!("{}已到达上车地点，请您上车", taxi_phrase(t)),
        (Accepted, None) => "出租车正在赶来".to_string(),
        (Arrived, None) => "出租车已到达，请您上车".to_string(),
        (OnTrip, _) => "行程进行中，祝您一路平安".to_string(),
        (Completed, _) => "行程已结束，感谢您的乘坐".to_string(),
        (Cancelled, _) => "订单已取消".to_string(),
        (Unfulfilled, _) => "暂时没有找到出租车，客服人员会尽快给您回电".to_string(),
    }
}

/// The sentence after a long press.
pub const EMERGENCY: &str = "已为您呼叫客服和家人，请保持电话畅通";
/// The sentence when there is nothing to report.
pub const IDLE: &str = "您目前没有进行中的订单，按一下按钮即可叫车";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderStatus;

    #[test]
    fn plate_is_spelled_with_a_dot() {
        assert_eq!(spoken_plate("渝A12345"), "渝A·12345");
        assert_eq!(spoken_plate("渝A"), "渝A");
    }

    #[test]
    fn sentence_follows_the_state() {
        let t = TaxiWords {
            plate: "渝A12345".into(),
            color: "白色".into(),
            eta_minutes: Some(4),
        };
        assert_eq!(
            for_status(OrderStatus::Accepted, Some(&t)),
            "车牌渝A·12345 白色出租车正在赶来，约4分钟到达"
        );
        assert!(for_status(OrderStatus::Arrived, Some(&t)).contains("已到达"));
        assert_eq!(
            for_status(OrderStatus::Pending, None),
            "已为您叫车，正在为您寻找附近的出租车"
        );
        for s in OrderStatus::ALL {
            assert!(!for_status(s, None).is_empty());
        }
    }
}
